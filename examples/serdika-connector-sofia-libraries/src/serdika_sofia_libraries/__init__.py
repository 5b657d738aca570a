"""A Serdika connector for the membership register of Sofia's municipal libraries."""

from serdika_sofia_libraries.connector import SofiaLibrariesConnector

__all__ = ["SofiaLibrariesConnector"]

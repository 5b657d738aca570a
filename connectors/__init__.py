"""Data-source adapters behind one small interface (see :mod:`connectors.base`)."""

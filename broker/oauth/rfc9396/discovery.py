"""Authorization server metadata for RFC 9396 (§10)."""

from typing import Any

from authlib.oauth2.rfc8414.models import validate_array_value

from .registry import AuthorizationDetailTypes


class AuthorizationServerMetadata(dict):  # type: ignore[type-arg]
    """Authorization Server Metadata extension for RFC 9396, used as Authlib's are::

    metadata = rfc8414.AuthorizationServerMetadata(data)
    metadata.validate(metadata_classes=[rfc9396.AuthorizationServerMetadata])
    """

    REGISTRY_KEYS = ["authorization_details_types_supported"]  # noqa: RUF012 - Authlib's

    def validate_authorization_details_types_supported(self) -> None:
        """JSON array of the authorization details types the server supports."""
        validate_array_value(self, "authorization_details_types_supported")


def metadata(types: AuthorizationDetailTypes) -> dict[str, Any]:
    """The metadata members of the server's detail types."""
    return {"authorization_details_types_supported": types.supported}

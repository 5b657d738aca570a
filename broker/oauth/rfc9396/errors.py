"""The error of RFC 9396 §5."""

from authlib.oauth2.rfc6749 import OAuth2Error


class InvalidAuthorizationDetailsError(OAuth2Error):
    """The ``authorization_details`` are malformed, of an unknown type, or not allowed.

    Like every authorization error it goes back to the client's (validated) redirect URI,
    with the request's ``state`` (RFC 9396 §5, RFC 6749 §4.1.2.1).
    """

    error = "invalid_authorization_details"

"""Authentication errors. Messages never contain the presented key or any part of it."""

from __future__ import annotations

from piivault.errors import Conflict, Forbidden, PiivaultError, TooManyRequests


class Unauthenticated(PiivaultError):
    """This request needs an API key: send the header Authorization: Bearer <API key>."""

    code = "unauthenticated"
    http_status = 401
    # RFC 6750 section 3.1 error code for the WWW-Authenticate challenge, if any.
    bearer_error: str | None = None

    def http_headers(self) -> dict[str, str]:
        challenge = 'Bearer realm="piivault"'
        if self.bearer_error:
            challenge += f', error="{self.bearer_error}"'
        return {"WWW-Authenticate": challenge}


class MalformedAuthorization(Unauthenticated):
    """The Authorization header must be: Bearer <API key>."""

    code = "malformed_authorization"
    bearer_error = "invalid_request"


class InvalidApiKey(Unauthenticated):
    """The API key is not valid."""

    code = "invalid_api_key"
    bearer_error = "invalid_token"


class ApiKeyRevoked(InvalidApiKey):
    """The API key was revoked."""

    code = "api_key_revoked"


class ApiKeyExpired(InvalidApiKey):
    """The API key has expired."""

    code = "api_key_expired"


class TooManyFailedAttempts(TooManyRequests):
    """Too many failed authentication attempts for this client id or from this address; retry later."""

    code = "too_many_failed_attempts"


class SelfRevocation(Conflict):
    """A key cannot revoke itself: revoke it with another admin key or `piivault clients revoke`."""

    code = "self_revocation"


class LastAdmin(Conflict):
    """The last active admin key cannot be revoked: create another admin client first."""

    code = "last_admin"


class ClientPendingApproval(Forbidden):
    """This client's data access awaits approval by a DPO (another person than the admin who asked):
    see GET /v1/approvals?target=<client id>. Its key works once the request is approved."""

    code = "client_pending_approval"

"""Errors from model calls: which are worth another try, how long a server asked to wait, and the secrets
removed from every message kept."""

from __future__ import annotations

import email.utils
import os
import re
import time

from cosmo_assets.llm.litellm_setup import load_litellm

# Environment variables whose values are secrets: removed from every error message we keep.
SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSWORD|REDIS_URL", re.IGNORECASE)

# HTTP statuses worth another try: timeouts, conflicts, rate limits, server errors.
_TRANSIENT_STATUS = {408, 409, 425, 429}

class MalformedAnswer(RuntimeError):
    """A server answered 200 with a body that is not a chat completion; retried like a server error."""


def secret_values() -> list[str]:
    values = {v for k, v in os.environ.items() if SECRET_NAME.search(k) and v and len(v) >= 6}
    return sorted(values, key=len, reverse=True)


def status_of(exc: Exception) -> int | None:
    status = getattr(exc, "status_code", None)
    return status if isinstance(status, int) else None


def transient(exc: Exception) -> bool:
    if isinstance(exc, (TimeoutError, ConnectionError)):
        return True
    litellm = load_litellm()
    permanent = (litellm.BadRequestError, litellm.AuthenticationError, litellm.PermissionDeniedError, litellm.NotFoundError)
    if isinstance(exc, permanent):
        return False
    transient = (
        litellm.RateLimitError,
        litellm.APIConnectionError,
        litellm.Timeout,
        litellm.InternalServerError,
        litellm.ServiceUnavailableError,
        litellm.BadGatewayError,
    )
    if isinstance(exc, transient):
        return True
    status = status_of(exc)
    return status is not None and (status in _TRANSIENT_STATUS or status >= 500)


def retry_after_s(exc: Exception) -> float | None:
    """The wait a server asked for (Retry-After in seconds or as a date, or retry-after-ms), if any."""
    headers = getattr(exc, "litellm_response_headers", None)
    if headers is None:
        try:
            headers = getattr(getattr(exc, "response", None), "headers", None)
        except Exception:  # noqa: BLE001 - some exceptions raise when a response is absent
            headers = None
    if not headers:
        return None
    try:
        if headers.get("retry-after-ms"):
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        value = headers.get("retry-after")
        if not value:
            return None
        try:
            return max(0.0, float(value))
        except ValueError:
            when = email.utils.parsedate_to_datetime(value)
            return max(0.0, when.timestamp() - time.time())
    except (TypeError, ValueError, AttributeError):
        return None


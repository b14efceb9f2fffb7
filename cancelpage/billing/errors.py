"""The project's own Stripe errors: what went wrong, with keys redacted, and whether to retry."""

from __future__ import annotations

import re

import stripe


class BillingError(Exception):
    """A Stripe call failed; the message is safe to log (keys are redacted)."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id

    @property
    def final_answer(self) -> bool:
        """Stripe answered, and the same request under the same key would get the same failure:
        Stripe keeps the first result per key for 24 h (500s included) and refuses the same
        parameters again. Only a new attempt (a new key) can succeed. No answer (timeout,
        dropped connection), 409 (the key's first request is still running) and 429 (not run)
        leave the outcome open: the same request under the same key settles it."""
        return self.http_status is not None and self.http_status not in (409, 429)


class StripeUnavailable(BillingError):
    """Timeout, connection error, 5xx or 429: the outcome is unknown, retry with the same key."""

    retryable = True


class StripeRejected(BillingError):
    """Stripe refused the request (invalid, card declined, idempotency mismatch, not found)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, request_id=request_id)
        self.code = code


class StripeAuthError(BillingError):
    """The key is invalid, revoked or lacks a permission this call needs."""

    retryable = False


class InvalidWebhook(BillingError):
    """A webhook body whose signature, timestamp or JSON does not check out."""

    retryable = False


_KEY_PATTERN = re.compile(r"\b(sk|rk|pk|whsec)_([A-Za-z0-9_*]+)")


def _redact(text: str) -> str:
    """Mask anything that looks like a Stripe secret, whatever Stripe put in the message."""
    return _KEY_PATTERN.sub(lambda m: f"{m.group(1)}_[redacted]", text)


def _error_field(err: stripe.StripeError, name: str) -> str | None:
    body = err.json_body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            value = error.get(name)
            if isinstance(value, str):
                return value
    return None


def translate(err: stripe.StripeError) -> BillingError:
    """Turn any stripe-python error into the project's own error type."""
    status = err.http_status
    request_id = err.request_id
    raw = err.user_message
    detail = _redact(str(raw)) if raw else type(err).__name__
    where = f" (HTTP {status})" if status is not None else ""
    if isinstance(err, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable(
            f"Stripe unavailable{where}: {detail}", http_status=status, request_id=request_id
        )
    if isinstance(err, stripe.AuthenticationError | stripe.PermissionError):
        return StripeAuthError(
            f"Stripe key refused{where}: {detail}", http_status=status, request_id=request_id
        )
    # APIError covers 5xx and 409 (a concurrent request with the same idempotency key is still
    # in flight): the outcome is unknown, so the caller retries with the same key or re-reads.
    if isinstance(err, stripe.APIError) or (status is not None and status >= 500):
        return StripeUnavailable(
            f"Stripe unavailable{where}: {detail}", http_status=status, request_id=request_id
        )
    code = err.code or _error_field(err, "code")
    if code is None and isinstance(err, stripe.IdempotencyError):
        code = "idempotency_error"
    return StripeRejected(
        f"Stripe rejected the request{where}: {detail}",
        code=code,
        http_status=status,
        request_id=request_id,
    )

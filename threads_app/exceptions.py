"""OpenAI's error envelope for everything that goes wrong under the mount."""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError, OperationalError
from rest_framework import exceptions as drf
from rest_framework.response import Response
from rest_framework.views import set_rollback

from .validation import ValidationError

logger = logging.getLogger("threads_app")

# What a request with a key that authenticates no one is told; never the key itself,
# since error messages end up in logs.
INCORRECT_KEY = "Incorrect API key provided."
# Seconds a client should wait before retrying after a 503 or 429.
BUSY_RETRY_AFTER = 1
# SQLSTATEs worth a retry: serialization failure, deadlock, lock not available, the
# server shutting down or starting, and every connection exception (class 08). A Citus
# coordinator reports a worker it cannot reach as 08006, and relays the state of a
# worker's own error (57P01 when it shuts down under a transaction).
RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03", "57P01", "57P02", "57P03"}
RETRYABLE_SQLSTATE_CLASSES = ("08",)
# A Citus worker lost during a transaction, at its COMMIT or after a statement ran on it:
# Citus names no state of its own for these (XX000, internal error), only a message.
# The transaction is rolled back (docs/scaling.md has what was measured).
CITUS_WORKER_LOST = (
    "could not commit transaction for shard ",
    "failure on connection marked as essential: ",
)


class APIError(Exception):
    """An error the API answers with; subclasses fix the status and type."""

    status_code = 400
    error_type = "invalid_request_error"

    def __init__(
        self, message: str, param: str | None = None, code: str | None = None, **headers: str
    ):
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


class BadRequest(APIError):
    status_code = 400


class NotFound(APIError):
    status_code = 404


class ServiceBusy(APIError):
    status_code = 503
    error_type = "server_error"


def error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def error_response(
    status: int,
    message: str,
    error_type: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    return Response(error_body(message, error_type, param, code), status=status, headers=headers)


def is_database_busy(exc: BaseException) -> bool:
    # SQLite says "database is locked"/"database table is locked" when its busy
    # timeout runs out; PostgreSQL's lock timeout and serialization failures are
    # OperationalErrors too. So is a connection the server ended (a restart, an
    # administrator) or lost, which Django replaces after the request; and on Citus,
    # a worker node down. All are worth a retry, none is a fault of ours.
    if isinstance(exc, OperationalError) and "locked" in str(exc):
        return True
    cause = exc.__cause__
    sqlstate = getattr(cause, "sqlstate", None) or ""
    if sqlstate in RETRYABLE_SQLSTATES or sqlstate.startswith(RETRYABLE_SQLSTATE_CLASSES):
        return True
    if sqlstate == "XX000":
        diagnostic = getattr(cause, "diag", None)
        message = getattr(diagnostic, "message_primary", None) or ""
        return message.startswith(CITUS_WORKER_LOST)
    # psycopg names no state when the socket closed under it; the status of its
    # connection is then BAD, not OK (0).
    pgconn = getattr(cause, "pgconn", None)
    return isinstance(exc, OperationalError) and pgconn is not None and pgconn.status != 0


def translate_drf_exception(exc: drf.APIException, request: Any, view: Any) -> Response:
    headers: dict[str, str] = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if isinstance(exc, drf.NotAuthenticated):
        # 401 asks for credentials the authentication classes can name in
        # WWW-Authenticate; a host's session authentication has none, so 403.
        if request is not None and request.META.get("HTTP_AUTHORIZATION"):
            # Credentials were sent, and every class stepped aside: none of them knows it.
            return error_response(
                exc.status_code, INCORRECT_KEY, code="invalid_api_key", headers=headers
            )
        return error_response(
            exc.status_code,
            "You didn't provide an API key. Send it in the Authorization header as "
            "'Bearer YOUR_KEY'.",
            headers=headers,
        )
    if isinstance(exc, drf.AuthenticationFailed):
        return error_response(401, str(exc.detail), code="invalid_api_key", headers=headers)
    if isinstance(exc, drf.PermissionDenied):
        return error_response(403, str(exc.detail))
    if isinstance(exc, drf.MethodNotAllowed):
        if view is not None:
            headers["Allow"] = ", ".join(view.allowed_methods)
        return error_response(
            405, f"Method {request.method} is not allowed for {request.path}.", headers=headers
        )
    if isinstance(exc, drf.UnsupportedMediaType):
        return error_response(
            415,
            "The request body must be JSON, sent with 'Content-Type: application/json'.",
        )
    if isinstance(exc, drf.ParseError):
        return error_response(
            400,
            "We could not parse the JSON body of your request. Send a valid JSON object.",
        )
    if isinstance(exc, drf.Throttled):
        if exc.wait is not None:
            headers["Retry-After"] = str(int(exc.wait + 0.999))
        return error_response(
            429, "Too many requests. Slow down and retry later.", "rate_limit_exceeded",
            code="rate_limit_exceeded", headers=headers,
        )
    if isinstance(exc, drf.NotFound):
        return error_response(404, str(exc.detail))
    return error_response(exc.status_code, str(exc.detail))


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """Answer every exception with the envelope; log the ones that are our fault."""
    request = context.get("request")
    set_rollback()
    if isinstance(exc, APIError):
        return error_response(
            exc.status_code, exc.message, exc.error_type, exc.param, exc.code, exc.headers
        )
    if isinstance(exc, ValidationError):
        return error_response(400, exc.message, param=exc.param, code=exc.code)
    if isinstance(exc, drf.APIException):
        return translate_drf_exception(exc, request, context.get("view"))
    if isinstance(exc, RequestDataTooBig):
        return error_response(413, "The request body is larger than this server accepts.")
    request_id = getattr(request, "request_id", None) if request is not None else None
    if isinstance(exc, DatabaseError) and is_database_busy(exc):
        logger.warning("database busy (request %s): %s", request_id, exc)
        return error_response(
            503,
            "The server is busy. Retry the request shortly.",
            "server_error",
            headers={"Retry-After": str(BUSY_RETRY_AFTER)},
        )
    logger.exception("unexpected error (request %s)", request_id, exc_info=exc)
    return error_response(
        500,
        f"The server had an error while processing your request (request {request_id}).",
        "server_error",
    )

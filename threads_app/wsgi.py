"""Request bodies of unknown length, read whole before Django sees them.

Django reads ``CONTENT_LENGTH`` bytes of a request body, and none when the
header is absent, as it is with ``Transfer-Encoding: chunked``: such a body
would be taken as empty. A server that decodes the chunks and ends the input
stream at the body's end says so with ``wsgi.input_terminated`` (gunicorn
does). Wrap the site's WSGI application to have those bodies read here::

    application = ChunkedBodyMiddleware(get_wsgi_application())

Without it (or under a server that does not end the stream, such as
``runserver``), the API refuses a body of unknown length with 411 rather than
act on a body it did not read.
"""

from collections.abc import Callable, Iterable
from io import BytesIO
from typing import Any

import orjson

from .conf import app_settings

WSGIApplication = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def body_length_unknown(environ: dict[str, Any]) -> bool:
    """Whether the request says it has a body but not how long (chunked, say)."""
    return not environ.get("CONTENT_LENGTH") and "HTTP_TRANSFER_ENCODING" in environ


class ChunkedBodyMiddleware:
    """Read a body of unknown length, up to ``MAX_BODY_SIZE``, and pass it on with its length."""

    def __init__(self, application: WSGIApplication):
        self.application = application

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        if body_length_unknown(environ) and environ.get("wsgi.input_terminated"):
            limit = app_settings.MAX_BODY_SIZE
            body = environ["wsgi.input"].read(limit + 1)
            if len(body) > limit:
                return too_large(limit, start_response)
            environ = {**environ, "wsgi.input": BytesIO(body), "CONTENT_LENGTH": str(len(body))}
            # Now a body of known length: nothing after this should decode it again.
            del environ["HTTP_TRANSFER_ENCODING"]
        return self.application(environ, start_response)


def too_large(limit: int, start_response: Callable[..., Any]) -> list[bytes]:
    """Answer 413 in the API's envelope, for any path: the rest of the body is never read."""
    # Imported here: this module is loaded before Django is set up.
    from .exceptions import error_body
    from .views import new_request_id

    body = orjson.dumps(error_body(
        f"The request body has more than {limit} bytes; this server accepts at most {limit}.",
        "invalid_request_error",
        code="request_too_large",
    ))
    start_response("413 Content Too Large", [
        ("Content-Type", "application/json"),
        ("Content-Length", str(len(body))),
        ("x-request-id", new_request_id()),
    ])
    return [body]

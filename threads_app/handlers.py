"""Django's error handlers, answering in OpenAI's envelope under the mount.

Some errors are raised before any view of ours runs: a ``Host`` header not
in ``ALLOWED_HOSTS``, say, is refused by Django's middleware. Django answers
those with the site's ``handler400`` (and ``handler403``, ``handler404``,
``handler500``). Point them here in the site's root URLconf::

    handler400 = "threads_app.handlers.bad_request"
    handler403 = "threads_app.handlers.permission_denied"
    handler404 = "threads_app.handlers.page_not_found"
    handler500 = "threads_app.handlers.server_error"

Under the mount they answer the envelope with ``x-request-id``; anywhere else
they answer as Django's own handlers do.
"""

import orjson
from django.core.exceptions import DisallowedHost
from django.http import HttpRequest, HttpResponse
from django.urls import Resolver404, resolve
from django.views import defaults

from .exceptions import error_body
from .urls import app_name
from .views import new_request_id


def under_mount(request: HttpRequest) -> bool:
    """Whether the request's path is one of the app's (any path under its mount is)."""
    try:
        match = resolve(request.path_info, getattr(request, "urlconf", None))
    except Resolver404:
        return False
    return app_name in match.app_names


def request_id(request: HttpRequest) -> str:
    """Name the request for its answer and the logs."""
    # A view of ours may have named the request already (a 500 raised in it).
    return getattr(request, "request_id", None) or new_request_id()


def envelope(
    status: int, message: str, request_id: str, error_type: str = "invalid_request_error"
) -> HttpResponse:
    """Answer ``message`` in OpenAI's error envelope."""
    response = HttpResponse(
        orjson.dumps(error_body(message, error_type)),
        status=status,
        content_type="application/json",
    )
    response["x-request-id"] = request_id
    return response


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a request Django refused before any view (a bad Host, say) with 400."""
    if not under_mount(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, DisallowedHost):
        message = "This server does not answer for the request's Host."
    else:
        message = "The request could not be accepted as sent."
    return envelope(400, message, request_id(request))


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a PermissionDenied raised outside the app's views with 403."""
    if not under_mount(request):
        return defaults.permission_denied(request, exception)
    return envelope(403, "You are not allowed to make this request.", request_id(request))


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer a 404 raised outside the app's views (the mount matches every path below it)."""
    if not under_mount(request):
        return defaults.page_not_found(request, exception)
    return envelope(404, f"Invalid URL ({request.method} {request.path})", request_id(request))


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an exception raised outside the app's views (in a middleware, say) with 500."""
    if not under_mount(request):
        return defaults.server_error(request)
    named = request_id(request)
    message = f"The server had an error while processing your request (request {named})."
    return envelope(500, message, named, "server_error")

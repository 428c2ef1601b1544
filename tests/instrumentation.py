"""What a host's monitoring does: watch every query through ``connection.execute_wrapper``."""

from collections.abc import Callable
from contextlib import ExitStack

from django.db import connections
from django.http import HttpRequest, HttpResponse

# The database and SQL of each query of the requests served while a test sets this to a list.
recording: list[tuple[str, str]] | None = None


class QueryRecorder:
    """Middleware that installs a wrapper on every database for the length of a request."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if recording is None:
            return self.get_response(request)
        with ExitStack() as stack:
            for alias in connections:
                stack.enter_context(connections[alias].execute_wrapper(record))
            return self.get_response(request)


def record(execute, sql, params, many, context):
    if recording is not None:
        recording.append((context["connection"].alias, sql))
    return execute(sql, params, many, context)

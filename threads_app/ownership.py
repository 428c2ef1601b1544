"""Who owns what: the default answer of ``THREADS_APP["OWNER_FUNCTION"]``."""

from typing import Any

from rest_framework.request import Request


def request_user(request: Request) -> Any:
    """The authenticated user owns the threads they create and sees only those."""
    return request.user

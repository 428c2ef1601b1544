"""The floors: what the same server answers with no DRF, and with no database or one query.

``floor`` answers a canned body without touching the database: the issue's
floor. ``floor_with_query`` answers the same body after one trivial query
(``SELECT 1``) on the worker's connection, through Django's cursor as the app's
hot statements run (threads_app/store/): what one round trip to the database costs by itself,
so that the part of an endpoint's cost that is the app's shows apart from it.
"""

from functools import lru_cache

from django.db import DEFAULT_DB_ALIAS
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from threads_app.store.database import run

PADDING_OVERHEAD = len(b'{"object":"floor","padding":""}')


@lru_cache(maxsize=64)
def canned_body(size: int) -> bytes:
    """A JSON object of exactly ``size`` bytes (or the smallest one, if less)."""
    return b'{"object":"floor","padding":"%s"}' % (b"x" * max(0, size - PADDING_OVERHEAD))


@csrf_exempt
def floor(request: HttpRequest) -> HttpResponse:
    """Answer a canned JSON body of ``?bytes=N`` bytes; a POST body is read, not parsed."""
    request.body  # noqa: B018  (read it, as the API must)
    size = int(request.GET.get("bytes", "0"))
    return HttpResponse(canned_body(size), content_type="application/json")


@csrf_exempt
def floor_with_query(request: HttpRequest) -> HttpResponse:
    """:func:`floor`, after one round trip to the database."""
    run(DEFAULT_DB_ALIAS, "SELECT 1", [])
    return floor(request)

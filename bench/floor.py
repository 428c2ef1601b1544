"""The floor: what the same server answers with no database and no DRF at all."""

from functools import lru_cache

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

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

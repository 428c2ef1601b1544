"""JSON in and out, with orjson, whatever the host's DRF defaults are."""

from typing import Any

import orjson
from django.http import HttpResponse
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer

from .validation import MAX_JSON_DEPTH, check_json_depth


class JSONRenderer(BaseRenderer):
    media_type = "application/json"
    format = "json"
    charset = None  # JSON is UTF-8 by definition; no charset parameter

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context=None):
        if data is None:
            return b""
        return orjson.dumps(data)


class RenderedResponse(HttpResponse):
    """An answer rendered where the view makes it, that keeps its ``data``.

    DRF's ``Response`` is a template response, rendered after the view has
    returned: that round cost about 70,000 instructions a request, 5% of a
    retrieve (bench/, callgrind). Our views negotiate nothing (see
    :class:`JSONOnlyNegotiation`), so the renderer is known before the answer
    is made. ``data`` stays for what reads it afterwards: the idempotency
    record, and tests.
    """

    def __init__(self, data: Any, renderer: BaseRenderer, media_type: str, status: int = 200):
        content_type = media_type
        if renderer.charset:
            content_type = f"{media_type}; charset={renderer.charset}"
        body = renderer.render(data, media_type)
        super().__init__(body, content_type=content_type, status=status)
        self.data = data


class JSONParser(BaseParser):
    """A JSON body, refused if it nests deeper than what can be written back.

    The depth is checked here, where every body is parsed, so that nothing
    (the idempotency fingerprint included) sees a value it cannot serialize.
    """

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None) -> Any:
        body = stream.read()
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise ParseError(f"JSON parse error: {exc}") from exc
        # Fewer brackets in all than the limit cannot nest past it: most bodies
        # are answered by two scans in C, without a walk of the parsed value.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH:
            check_json_depth(data)
        return data


class JSONOnlyNegotiation(BaseContentNegotiation):
    """Always answer JSON: OpenAI ignored `Accept` and `?format=`, and so do we."""

    def select_parser(self, request, parsers):
        content_type = request.content_type.split(";")[0].strip().lower()
        for parser in parsers:
            if parser.media_type == content_type:
                return parser
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type

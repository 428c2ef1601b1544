"""Message text as staff read it: CommonMark rendered to HTML that cannot act.

The text is whatever a user or a model wrote, so the renderer is the one place
where it becomes markup. It keeps it inert:

- raw HTML is off: ``<script>`` or ``<img onerror=…>`` in a message is shown as text;
- links go to ``http``, ``https`` and ``mailto`` addresses only; any other
  (``javascript:``, ``data:``, relative paths into the admin) stays text, and
  the links that remain open in a new tab with no referrer;
- Markdown images are off: an image loads from the address a user gave, which
  would tell that address the staff member's IP, or make the browser request
  an internal one. ``![alt](url)`` reads as a link instead.
"""

import re
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

ALLOWED_LINK = re.compile(r"(https?|mailto):", re.IGNORECASE)


def allowed_link(url: str) -> bool:
    """Whether a link may point at ``url`` (already normalized by the parser)."""
    return ALLOWED_LINK.match(url.strip()) is not None


def link_open(self: Any, tokens: list, idx: int, options: Any, env: Any) -> str:
    tokens[idx].attrSet("target", "_blank")
    tokens[idx].attrSet("rel", "nofollow noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


@lru_cache(maxsize=1)
def parser() -> MarkdownIt:
    # A chat's line breaks are the writer's: `breaks` keeps them, as chat clients do.
    md = MarkdownIt("commonmark", {"html": False, "breaks": True})
    md.disable("image")
    md.validateLink = allowed_link  # type: ignore[method-assign]
    md.add_render_rule("link_open", link_open)
    return md


def render_markdown(text: str) -> SafeString:
    """Render ``text`` as CommonMark, safely; see the module's docstring for what that means."""
    # The parser escapes every piece of text it emits, and emits no tag of the input's.
    return mark_safe(parser().render(text))  # noqa: S308


def image_host(url: str) -> str:
    """Who an image's address would reveal the reader to: its host, as staff should read it."""
    if url[:5].lower() == "data:":
        return "inline data (no request)"
    try:
        return urlsplit(url).hostname or "an address with no host"
    except ValueError:
        return "an address that is not valid"

"""``{% load threads_trail %}``: what the admin log keeps of a message, for its history pages."""

from typing import Any

from django import template
from django.contrib.admin.models import LogEntry

from .. import trail

register = template.Library()


@register.filter
def kept_message(entry: LogEntry) -> dict[str, Any] | None:
    """What ``entry`` keeps of the message it is about (see :func:`threads_app.trail.shown`)."""
    return trail.shown(entry)

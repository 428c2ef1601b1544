"""The admin's search: which threads and messages a term typed by staff matches.

A term shaped like one of our IDs is looked up as one, a unique-index probe;
any other term is text, matched in any case inside the JSON the columns hold.
Searching text is an ``EXISTS`` per thread, never a join that multiplies rows
and then needs ``DISTINCT``; on PostgreSQL a trigram index (migration 0007)
answers it for rare words, and the ``EXISTS`` stops at the first match for
common ones.
"""

import re

import orjson
from django.db.models import Exists, OuterRef, Q

from ..ids import (
    ALPHABET,
    CONVERSATION_PREFIX,
    PREFIX_PATTERN,
    RANDOM_LENGTH,
    SEPARATOR,
    THREAD_PREFIX,
    id_start,
)
from ..ids import thread_id as conversation_thread_id
from ..models import Message

# An object ID as ours are made: a type prefix, "_" and the random part (ids.py).
OBJECT_ID = re.compile(
    rf"{PREFIX_PATTERN}{re.escape(SEPARATOR)}[{re.escape(ALPHABET)}]{{{RANDOM_LENGTH}}}"
)


def is_object_id(term: str) -> bool:
    """Whether ``term`` is shaped like one of our IDs, of any type."""
    return OBJECT_ID.fullmatch(term) is not None


def search_thread_id(term: str) -> str | None:
    """The thread a thread or conversation ID names, if ``term`` is one."""
    if not is_object_id(term):
        return None
    if term.startswith(id_start(THREAD_PREFIX)):
        return term
    if term.startswith(id_start(CONVERSATION_PREFIX)):
        return conversation_thread_id(term)
    return None


def is_item_id(term: str) -> bool:
    """Whether ``term`` is shaped like the ID of a message or another item."""
    return is_object_id(term) and search_thread_id(term) is None


def json_fragment(term: str) -> str:
    """``term`` as it appears inside a JSON string, which is how the columns hold text."""
    return orjson.dumps(term).decode()[1:-1]


def text_condition(term: str) -> Q:
    """Messages whose text (or, for other items, fields) holds ``term``, in any case.

    A message's text is in `content`; an item's (and a Conversations message's
    parts with no Threads form) in `item`. On PostgreSQL each has a trigram index
    on ``UPPER(column)``, the expression Django's ``icontains`` compares (0007).
    """
    fragment = json_fragment(term)
    return Q(content__icontains=fragment) | Q(item__icontains=fragment)


def thread_condition(term: str) -> Q:
    """Threads that ``term`` finds: by their ID, a message's ID, metadata or text."""
    # A term shaped like an ID is looked up as one: a unique-index probe,
    # where an OR with the text search would read every message.
    if thread_id := search_thread_id(term):
        return Q(public_id=thread_id)
    if is_item_id(term):
        return Q(public_id__in=Message.objects.filter(public_id=term).values("thread_id"))
    # Metadata keys and values alike are text in the column's JSON. The EXISTS
    # stops at a thread's first match: a common word costs a probe per thread
    # listed, and on PostgreSQL the planner answers a rare one from the
    # trigram index instead (one hashed set of threads).
    return Q(metadata__icontains=json_fragment(term)) | Exists(
        Message.objects.filter(text_condition(term), thread=OuterRef("public_id"))
    )


def message_condition(term: str) -> Q:
    """Messages that ``term`` finds: by their ID, their thread's ID (a range of
    the (thread, seq) index), or their text."""
    if thread_id := search_thread_id(term):
        return Q(thread_id=thread_id)
    if is_item_id(term):
        return Q(public_id=term)
    return text_condition(term)

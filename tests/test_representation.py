"""Listed and retrieved messages, read as tuples of columns, answer what ``message_object`` does."""

from datetime import timedelta

import orjson
from django.utils import timezone

from threads_app.models import Message, Thread
from threads_app.representation import message_object

from .conftest import url

# Every character JSON must escape, and some it must not.
AWKWARD = "".join(chr(i) for i in range(1, 0x20)) + "\"\\/'%%s?é€😀\u2028\u2029\ufeff\x7f"


def awkward_messages(user) -> tuple[Thread, list[Message]]:
    thread = Thread.objects.create(owner=user)
    now = timezone.now().replace(microsecond=999_999)
    plain = Message.objects.create(
        thread=thread, role="user", content=[
            {"type": "text", "text": {"value": "hi", "annotations": []}}
        ], created_at=now, completed_at=now,
    )
    awkward = Message.objects.create(
        thread=thread,
        role="assistant",
        status="incomplete",
        incomplete_details={"reason": AWKWARD},
        created_at=now - timedelta(days=400),
        completed_at=None,
        incomplete_at=now,
        assistant_id=AWKWARD,
        run_id="run_" + AWKWARD,
        content=[{"type": "text", "text": {"value": AWKWARD, "annotations": []}}],
        attachments=[{"file_id": AWKWARD, "tools": [{"type": "file_search"}]}],
        metadata={AWKWARD: AWKWARD, "n": "1"},
    )
    return thread, [plain, awkward]


def expected(message: Message, thread: Thread) -> bytes:
    return orjson.dumps(message_object(Message.objects.get(pk=message.pk), thread.public_id))


def test_retrieve_answers_the_bytes_orjson_writes(api, user):
    thread, messages = awkward_messages(user)
    for message in messages:
        answer = api.get(url("message-detail", thread_id=thread.public_id,
                             message_id=message.public_id))
        assert answer.status_code == 200
        assert answer.content == expected(message, thread)


def test_a_page_answers_the_bytes_orjson_writes(api, user):
    thread, messages = awkward_messages(user)
    for order, listed in (("asc", messages), ("desc", messages[::-1])):
        page = api.get(url("message-list", thread_id=thread.public_id), {"order": order})
        assert page.status_code == 200
        assert page.content == orjson.dumps({
            "object": "list",
            "data": [orjson.Fragment(expected(message, thread)) for message in listed],
            "first_id": listed[0].public_id,
            "last_id": listed[-1].public_id,
            "has_more": False,
        })


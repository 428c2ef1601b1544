"""The official `openai` SDK, sync and async, against a live server."""

import asyncio

import openai
import pytest

from .oracle import assert_schema, assert_thread_list

pytestmark = pytest.mark.django_db(transaction=True)


def dump(obj):
    # What the server sent: fields the SDK filled in itself are left out.
    return obj.model_dump(mode="json", exclude_unset=True)


def texts(messages):
    return [m.content[0].text.value for m in messages]


def test_thread_lifecycle(sdk):
    thread = sdk.beta.threads.create(
        messages=[
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": [
                {"type": "text", "text": "Hi there"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
            ]},
        ],
        metadata={"customer": "42"},
        tool_resources={"code_interpreter": {"file_ids": ["file_a"]}},
    )
    assert thread.id.startswith("thread_")
    assert thread._request_id.startswith("req_")
    assert_schema(dump(thread), "ThreadObject")
    assert thread.tool_resources.code_interpreter.file_ids == ["file_a"]

    again = sdk.beta.threads.retrieve(thread.id)
    assert again == thread

    updated = sdk.beta.threads.update(thread.id, metadata={"customer": "43"})
    assert updated.metadata == {"customer": "43"}
    assert sdk.beta.threads.update(thread.id).metadata == {"customer": "43"}

    messages = sdk.beta.threads.messages.list(thread.id, order="asc")
    assert texts(messages.data) == ["Hello", "Hi there"]
    assert messages.data[1].content[1].image_url.url == "https://example.com/cat.png"
    assert messages.data[1].content[1].image_url.detail == "auto"
    for message in messages.data:
        assert_schema(dump(message), "MessageObject")

    deleted = sdk.beta.threads.delete(thread.id)
    assert deleted.deleted is True and deleted.id == thread.id
    assert_schema(dump(deleted), "DeleteThreadResponse")
    with pytest.raises(openai.NotFoundError):
        sdk.beta.threads.retrieve(thread.id)


def test_message_lifecycle(sdk):
    thread = sdk.beta.threads.create()
    message = sdk.beta.threads.messages.create(
        thread.id,
        role="user",
        content="What is in this file?",
        attachments=[{"file_id": "file_1", "tools": [{"type": "code_interpreter"}]}],
        metadata={"source": "test"},
    )
    assert_schema(dump(message), "MessageObject")
    assert message.thread_id == thread.id
    assert message.attachments[0].tools[0].type == "code_interpreter"
    assert sdk.beta.threads.messages.retrieve(message.id, thread_id=thread.id) == message

    updated = sdk.beta.threads.messages.update(message.id, thread_id=thread.id,
                                               metadata={"source": "edited"})
    assert updated.metadata == {"source": "edited"}
    assert updated.content == message.content

    deleted = sdk.beta.threads.messages.delete(message.id, thread_id=thread.id)
    assert deleted.deleted is True
    assert_schema(dump(deleted), "DeleteMessageResponse")
    with pytest.raises(openai.NotFoundError):
        sdk.beta.threads.messages.retrieve(message.id, thread_id=thread.id)


def fill(sdk, count):
    """A thread of ``count`` messages, created back to back (many share a second)."""
    thread = sdk.beta.threads.create(
        messages=[{"role": "user", "content": f"m{i}"} for i in range(min(count, 100))]
    )
    for i in range(100, count):
        sdk.beta.threads.messages.create(thread.id, role="user", content=f"m{i}")
    return thread.id, [f"m{i}" for i in range(count)]


@pytest.mark.parametrize("count", [14, 15, 16])
@pytest.mark.parametrize("order", ["asc", "desc"])
def test_auto_pagination(sdk, count, order):
    limit = 5  # so the counts are 3 x limit - 1, 3 x limit and 3 x limit + 1
    thread_id, written = fill(sdk, count)
    seen = texts(sdk.beta.threads.messages.list(thread_id, limit=limit, order=order))
    assert seen == (written if order == "asc" else written[::-1])


def test_pages_report_has_more_exactly(sdk):
    thread_id, _ = fill(sdk, 10)
    pages = list(sdk.beta.threads.messages.list(thread_id, limit=5).iter_pages())
    assert [(len(p.data), p.has_more) for p in pages] == [(5, True), (5, False)]
    assert_schema(dump(pages[0]), "ListMessagesResponse")


def test_before_pages_and_windows(sdk):
    thread_id, written = fill(sdk, 12)
    asc = sdk.beta.threads.messages.list(thread_id, order="asc", limit=100).data
    ids = [m.id for m in asc]

    previous = sdk.beta.threads.messages.list(thread_id, order="asc", limit=3, before=ids[7])
    assert texts(previous.data) == written[4:7]
    assert previous.has_more is True

    window = sdk.beta.threads.messages.list(
        thread_id, order="asc", limit=3, after=ids[2], before=ids[9]
    )
    assert texts(window.data) == written[3:6] and window.has_more is True
    # The auto-pager keeps the caller's `before` and walks `after` up to it.
    walked = sdk.beta.threads.messages.list(
        thread_id, order="asc", limit=2, after=ids[2], before=ids[9]
    )
    assert texts(walked) == written[3:9]

    desc = sdk.beta.threads.messages.list(thread_id, order="desc", limit=4, before=ids[2])
    assert texts(desc.data) == written[6:2:-1]


def test_iterate_and_delete(sdk):
    thread_id, written = fill(sdk, 11)
    seen = []
    for message in sdk.beta.threads.messages.list(thread_id, limit=3, order="asc"):
        seen.append(message.content[0].text.value)
        sdk.beta.threads.messages.delete(message.id, thread_id=thread_id)
    assert seen == written
    assert sdk.beta.threads.messages.list(thread_id).data == []


def test_list_threads_through_the_raw_client(sdk):
    made = [sdk.beta.threads.create().id for _ in range(3)]
    page = sdk.get("/threads", cast_to=object, options={"params": {"limit": 2, "order": "asc"}})
    assert_thread_list(page)
    assert [t["id"] for t in page["data"]] == made[:2] and page["has_more"] is True


def test_errors_raise_the_matching_exceptions(sdk, live_server):
    thread = sdk.beta.threads.create()
    with pytest.raises(openai.NotFoundError) as not_found:
        sdk.beta.threads.retrieve("thread_" + "0" * 24)
    assert not_found.value.body["message"] == f"No thread found with id '{'thread_' + '0' * 24}'."
    assert not_found.value.request_id.startswith("req_")

    with pytest.raises(openai.BadRequestError) as bad:
        sdk.beta.threads.messages.create(thread.id, role="user", content="")
    assert bad.value.body["param"] == "content"
    assert bad.value.body["type"] == "invalid_request_error"

    with pytest.raises(openai.BadRequestError):
        sdk.beta.threads.retrieve("abc")
    with pytest.raises(openai.BadRequestError):
        sdk.beta.threads.messages.list(thread.id, limit=101)
    with pytest.raises(openai.BadRequestError):
        sdk.beta.threads.create(metadata={str(i): "v" for i in range(17)})
    with pytest.raises(openai.NotFoundError):
        sdk.beta.threads.messages.retrieve("msg_" + "0" * 24, thread_id=thread.id)

    with openai.OpenAI(api_key="sk-wrong", base_url=sdk.base_url, max_retries=0) as wrong_key:
        with pytest.raises(openai.AuthenticationError) as unauthenticated:
            wrong_key.beta.threads.retrieve(thread.id)
    assert unauthenticated.value.body["code"] == "invalid_api_key"


def test_isolation_through_the_sdk(sdk, other_sdk):
    thread = sdk.beta.threads.create(messages=[{"role": "user", "content": "private"}])
    message = sdk.beta.threads.messages.list(thread.id).data[0]
    attempts = [
        lambda: other_sdk.beta.threads.retrieve(thread.id),
        lambda: other_sdk.beta.threads.update(thread.id, metadata={"x": "y"}),
        lambda: other_sdk.beta.threads.delete(thread.id),
        lambda: other_sdk.beta.threads.messages.create(thread.id, role="user", content="x"),
        lambda: other_sdk.beta.threads.messages.list(thread.id),
        lambda: other_sdk.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        lambda: other_sdk.beta.threads.messages.update(message.id, thread_id=thread.id,
                                                       metadata={"x": "y"}),
        lambda: other_sdk.beta.threads.messages.delete(message.id, thread_id=thread.id),
    ]
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError):
            attempt()
    assert sdk.beta.threads.messages.list(thread.id).data == [message]


def test_async_client(async_sdk):
    async def scenario():
        thread = await async_sdk.beta.threads.create(metadata={"mode": "async"})
        created = await asyncio.gather(*(
            async_sdk.beta.threads.messages.create(thread.id, role="user", content=f"a{i}")
            for i in range(6)
        ))
        seen = [m async for m in async_sdk.beta.threads.messages.list(thread.id, limit=4)]
        assert {m.id for m in seen} == {m.id for m in created}
        assert [m.id for m in seen] == sorted(
            (m.id for m in seen), key=[m.id for m in reversed(seen)].index, reverse=True
        )
        retrieved = await async_sdk.beta.threads.messages.retrieve(
            created[0].id, thread_id=thread.id
        )
        assert retrieved == created[0]
        updated = await async_sdk.beta.threads.update(thread.id, metadata={"mode": "done"})
        assert updated.metadata == {"mode": "done"}
        await async_sdk.beta.threads.messages.update(
            created[0].id, thread_id=thread.id, metadata={"k": "v"}
        )
        await async_sdk.beta.threads.messages.delete(created[0].id, thread_id=thread.id)
        assert (await async_sdk.beta.threads.delete(thread.id)).deleted
        try:
            await async_sdk.beta.threads.retrieve(thread.id)
        except openai.NotFoundError:
            pass
        else:
            raise AssertionError("a deleted thread was found")
        await async_sdk.close()

    asyncio.run(scenario())


def metadata_doors(sdk):
    """(update, retrieve) of a new thread, a new message and a new conversation, each with
    the metadata {"a": "1", "b": "2"}: the three modifies that merge."""
    thread = sdk.beta.threads.create(metadata={"a": "1", "b": "2"})
    message = sdk.beta.threads.messages.create(
        thread.id, role="user", content="hi", metadata={"a": "1", "b": "2"}
    )
    conversation = sdk.conversations.create(metadata={"a": "1", "b": "2"})
    return {
        "thread": (
            lambda **body: sdk.beta.threads.update(thread.id, **body),
            lambda: sdk.beta.threads.retrieve(thread.id),
        ),
        "message": (
            lambda **body: sdk.beta.threads.messages.update(message.id, thread_id=thread.id,
                                                            **body),
            lambda: sdk.beta.threads.messages.retrieve(message.id, thread_id=thread.id),
        ),
        "conversation": (
            lambda **body: sdk.conversations.update(conversation.id, **body),
            lambda: sdk.conversations.retrieve(conversation.id),
        ),
    }


@pytest.mark.parametrize("door", ["thread", "message", "conversation"])
def test_modify_merges_metadata(sdk, door):
    """Each key given is set, keys left out are kept, a key given as null is removed."""
    update, retrieve = metadata_doors(sdk)[door]
    merged = update(metadata={"b": "20", "c": "3"})
    assert merged.metadata == {"a": "1", "b": "20", "c": "3"}
    assert retrieve().metadata == merged.metadata
    removed = update(metadata={"a": None, "d": "4", "never-set": None})
    assert removed.metadata == {"b": "20", "c": "3", "d": "4"}
    assert update(metadata={}).metadata == removed.metadata
    assert retrieve().metadata == removed.metadata


@pytest.mark.parametrize("door", ["thread", "message", "conversation"])
def test_modify_with_null_metadata_clears_it(sdk, door):
    update, retrieve = metadata_doors(sdk)[door]
    assert update(metadata=None).metadata == {}
    assert retrieve().metadata == {}


@pytest.mark.parametrize("door", ["thread", "message", "conversation"])
def test_merged_metadata_keeps_to_the_limits(sdk, door):
    """16 pairs once merged: more is refused whole, whatever the body alone holds."""
    update, retrieve = metadata_doors(sdk)[door]
    fourteen = {f"k{i}": "v" for i in range(14)}
    full = update(metadata=fourteen).metadata
    assert len(full) == 16
    with pytest.raises(openai.BadRequestError) as refused:
        update(metadata={"one": "more"})
    assert refused.value.body["param"] == "metadata"
    assert refused.value.body["code"] == "metadata_too_many_pairs"
    assert retrieve().metadata == full
    # Removing one in the same body makes room for another.
    assert update(metadata={"a": None, "one": "more"}).metadata == {
        **{k: v for k, v in full.items() if k != "a"}, "one": "more"
    }
    with pytest.raises(openai.BadRequestError) as too_long:
        update(metadata={"b": "v" * 513})
    assert too_long.value.body["param"] == "metadata"
    with pytest.raises(openai.BadRequestError):
        update(metadata={"b": 2})
    assert len(retrieve().metadata) == 16 and retrieve().metadata["b"] == "2"

"""export_threads and import_threads: round trip, the SDK's shapes, order, bad records."""

import io
import json
from datetime import UTC, datetime

import orjson
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse
from django.utils.connection import ConnectionDoesNotExist
from openai.pagination import SyncCursorPage
from openai.types.beta import Thread as SDKThread
from openai.types.beta.threads import Message as SDKMessage

from threads_app import validation
from threads_app.models import Message, Thread, Tombstone
from threads_app.transfer import Progress

from .conftest import url
from .oracle import assert_schema
from .test_conversations import FUNCTION_CALL, FUNCTION_OUTPUT, conv_id

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000  # a fixed second, so that records can share or order their timestamps


def post(client, path, body):
    response = client.post(path, json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def get(client, path, **query):
    response = client.get(path, query)
    assert response.status_code == 200, response.content
    return response.json()


def export(tmp_path, *args, name="export.jsonl") -> bytes:
    target = tmp_path / name
    call_command("export_threads", "--output", str(target), *args, stderr=io.StringIO())
    return target.read_bytes()


def run_import(tmp_path, lines, *args, name="import.jsonl"):
    """Import ``lines`` (bytes, or objects written one a line); return (output, failed)."""
    source = tmp_path / name
    if isinstance(lines, bytes):
        source.write_bytes(lines)
    else:
        source.write_bytes(b"".join(orjson.dumps(line) + b"\n" for line in lines))
    out = io.StringIO()
    try:
        call_command("import_threads", str(source), *args, stdout=out, stderr=out)
    except CommandError:
        return out.getvalue(), True
    return out.getvalue(), False


def empty_the_store():
    Message.objects.all().delete()
    Thread.objects.all().delete()
    Tombstone.objects.all().delete()


def message(msg_id, thread_id, created_at=T0, text="hello", **fields):
    return {
        "id": msg_id,
        "object": "thread.message",
        "created_at": created_at,
        "thread_id": thread_id,
        "status": "completed",
        "incomplete_details": None,
        "completed_at": created_at,
        "incomplete_at": None,
        "role": "user",
        "content": [{"type": "text", "text": {"value": text, "annotations": []}}],
        "assistant_id": None,
        "run_id": None,
        "attachments": [],
        "metadata": {},
        **fields,
    }


def thread(thread_id, created_at=T0, **fields):
    return {
        "id": thread_id,
        "object": "thread",
        "created_at": created_at,
        "tool_resources": {},
        "metadata": {},
        **fields,
    }


def texts(api, thread_id):
    page = get(api, url("message-list", thread_id=thread_id), order="asc", limit=100)
    return [
        "".join(part["text"]["value"] for part in m["content"] if part["type"] == "text")
        for m in page["data"]
    ]


@pytest.fixture
def conversations(api, other_api):
    """Two owners' threads made through the API, and one message only a run could leave."""
    first = post(
        api,
        url("thread-list"),
        {
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "assistant", "content": [{"type": "text", "text": "two"}]},
                {"role": "user", "content": "three", "metadata": {"k": "v"}},
            ],
            "metadata": {"customer": "42", "zeta": "first key written last"},
            "tool_resources": {"code_interpreter": {"file_ids": ["file-a"]}},
        },
    )
    post(
        api,
        url("message-list", thread_id=first["id"]),
        {
            "role": "user",
            "content": [
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_file", "image_file": {"file_id": "file-b", "detail": "low"}},
                {"type": "text", "text": "ünïcödé ✓"},
            ],
            "attachments": [{"file_id": "file-c", "tools": [{"type": "file_search"}]}],
        },
    )
    second = post(api, url("thread-list"), {"messages": [{"role": "user", "content": "solo"}]})
    theirs = post(other_api, url("thread-list"), {"messages": [{"role": "user", "content": "x"}]})
    Message.objects.create(
        thread=Thread.objects.get(public_id=second["id"]),
        public_id="msg_fromarun000000000000000",
        role="assistant",
        content=[{"type": "text", "text": {"value": "", "annotations": []}}],
        status="incomplete",
        incomplete_details={"reason": "run_cancelled"},
        completed_at=None,
        assistant_id="asst_abc",
        run_id="run_abc",
    )
    return first["id"], second["id"], theirs["id"]


def test_round_trip_into_an_empty_store_gives_identical_bytes(tmp_path, api, conversations):
    listed = get(api, url("thread-list"), order="asc")
    first = export(tmp_path, name="first.jsonl")
    assert first.count(b"\n") == 3 + 7  # threads and messages, one a line
    empty_the_store()
    err, failed = run_import(tmp_path, first, name="first.jsonl")
    assert not failed, err
    assert "imported 3 threads, 7 messages and 0 other items" in err
    assert export(tmp_path, name="second.jsonl") == first
    # Same IDs, timestamps and list order through the API as before.
    assert get(api, url("thread-list"), order="asc") == listed
    assert texts(api, conversations[0])[:3] == ["one", "two", "three"]


def test_exported_lines_are_the_api_objects(tmp_path, api, conversations):
    lines = [orjson.loads(line) for line in export(tmp_path).splitlines()]
    first_id = conversations[0]
    thread_line = lines[0]
    assert thread_line.pop("owner") == "alice"
    assert thread_line == get(api, url("thread-detail", thread_id=first_id))
    listed = get(api, url("message-list", thread_id=first_id), order="asc")["data"]
    assert lines[1:5] == listed
    for line in lines:
        line.pop("owner", None)
        is_message = line["object"] == "thread.message"
        assert_schema(line, "MessageObject" if is_message else "ThreadObject")


def test_a_second_import_adds_nothing(tmp_path, conversations):
    data = export(tmp_path)
    err, failed = run_import(tmp_path, data)
    assert not failed
    assert "imported 0 threads, 0 messages and 0 other items; 3 threads, 7 messages and 0 " in err
    assert (Thread.objects.count(), Message.objects.count()) == (3, 7)


def test_export_filters_by_owner_thread_and_date(tmp_path, conversations, other_user):
    first_id, second_id, theirs_id = conversations
    Thread.objects.filter(public_id=first_id).update(created_at=datetime(2024, 1, 1, tzinfo=UTC))

    def exported_threads(*args):
        lines = [orjson.loads(line) for line in export(tmp_path, *args).splitlines()]
        return [line["id"] for line in lines if line["object"] == "thread"]

    assert exported_threads("--owner", "alice") == [first_id, second_id]
    assert exported_threads("--owner", "mallory") == [theirs_id]
    assert exported_threads("--thread", theirs_id, "--thread", first_id) == [first_id, theirs_id]
    assert exported_threads("--until", "2024-06-01") == [first_id]
    assert exported_threads("--since", "2024-06-01T00:00:00Z") == [second_id, theirs_id]
    assert exported_threads("--owner", "alice", "--since", "2024-06-01") == [second_id]
    with pytest.raises(CommandError, match="not an ISO 8601"):
        export(tmp_path, "--since", "last tuesday")


def test_the_sdk_shapes_import(tmp_path, api, user, conversations):
    """model_dump() of SDK threads, messages and list pages, as the SDK builds them."""
    first_id, second_id, _ = conversations
    thread_dump = SDKThread.model_validate(get(api, url("thread-detail", thread_id=first_id)))
    page = SyncCursorPage[SDKMessage].model_validate(
        get(api, url("message-list", thread_id=first_id))  # newest first, the SDK's default
    )
    second_messages = get(api, url("message-list", thread_id=second_id), order="asc")["data"]
    single = SDKMessage.model_validate(second_messages[0])
    before = [get(api, url("thread-detail", thread_id=first_id)), page.model_dump(mode="json")]
    empty_the_store()

    lines = [
        thread_dump.model_dump(),
        page.model_dump(mode="json"),
        single.model_dump(),  # its thread is not in the file: --owner makes it
    ]
    err, failed = run_import(tmp_path, lines, "--owner", user.username)
    assert not failed, err
    assert get(api, url("thread-detail", thread_id=first_id)) == before[0]
    again = get(api, url("message-list", thread_id=first_id))
    assert SyncCursorPage[SDKMessage].model_validate(again).model_dump(mode="json") == before[1]
    assert texts(api, second_id) == ["solo"]


def test_a_page_of_one_second_follows_list_order(tmp_path, api, user):
    # Three messages of one second; only the page's order tells which came first.
    records = [message(f"msg_{n}", "thread_same", text=n) for n in ("a", "b", "c")]
    newest_first = {"object": "list", "data": records[::-1], "has_more": False}
    err, failed = run_import(tmp_path, [thread("thread_same"), newest_first], "--owner", "alice")
    assert not failed, err
    assert texts(api, "thread_same") == ["a", "b", "c"]

    records = [message(f"msg_asc{n}", "thread_asc", text=n) for n in ("a", "b", "c")]
    oldest_first = {"object": "list", "data": records}
    err, failed = run_import(
        tmp_path, [thread("thread_asc"), oldest_first], "--owner", "alice", "--list-order", "asc"
    )
    assert not failed, err
    assert texts(api, "thread_asc") == ["a", "b", "c"]


def test_pages_in_descending_order_are_told_by_their_timestamps(tmp_path, api, user):
    # Two pages newest first; the second page's newest shares a second with the
    # first page's oldest, and is older than it by list order.
    page1 = [message("msg_d", "thread_p", T0 + 2, "d"), message("msg_c", "thread_p", T0 + 1, "c")]
    page2 = [message("msg_b", "thread_p", T0 + 1, "b"), message("msg_a", "thread_p", T0, "a")]
    lines = [
        thread("thread_p"),
        {"object": "list", "data": page1, "has_more": True},
        {"object": "list", "data": page2, "has_more": False},
    ]
    err, failed = run_import(tmp_path, lines, "--owner", "alice", "--list-order", "asc")
    assert not failed, err
    assert texts(api, "thread_p") == ["a", "b", "c", "d"]


def test_messages_are_inserted_in_created_at_order_ties_in_file_order(tmp_path, api, user):
    lines = [
        thread("thread_order", owner="alice"),
        message("msg_late", "thread_order", T0 + 5, "late"),
        message("msg_tie1", "thread_order", T0 + 1, "tie1"),
        message("msg_early", "thread_order", T0, "early"),
        message("msg_tie2", "thread_order", T0 + 1, "tie2"),
    ]
    err, failed = run_import(tmp_path, lines)
    assert not failed, err
    assert texts(api, "thread_order") == ["early", "tie1", "tie2", "late"]
    stored = Message.objects.get(public_id="msg_late")
    assert int(stored.created_at.timestamp()) == T0 + 5 == int(stored.completed_at.timestamp())


def test_an_indented_json_document_imports(tmp_path, api, user):
    page = {"object": "list", "data": [message("msg_1", "thread_doc")], "has_more": False}
    document = json.dumps([thread("thread_doc"), page], indent=2).encode()
    err, failed = run_import(tmp_path, document, "--owner", "alice")
    assert not failed, err
    assert texts(api, "thread_doc") == ["hello"]


def test_bad_records_are_reported_by_line_and_the_rest_imported(tmp_path, api, user):
    too_much_metadata = {f"k{i}": "v" for i in range(17)}
    lines = [
        orjson.dumps(thread("thread_ok", owner="alice")),
        b"{not json",
        orjson.dumps(thread("thread_bad", owner="alice", metadata=too_much_metadata)),
        orjson.dumps(message("msg_orphaned", "thread_bad")),
        orjson.dumps(message("msg_ok", "thread_ok")),
        orjson.dumps({"object": "assistant", "id": "asst_1"}),
        orjson.dumps(message("msg_badpart", "thread_ok", content=[{"type": "video"}])),
        orjson.dumps(thread("thread_nobody", owner="nobody")),
        orjson.dumps({"object": "list", "data": [message("msg_x", "thread_ok", role="system")]}),
    ]
    err, failed = run_import(tmp_path, b"\n".join(lines) + b"\n")
    assert failed
    reported = [line.split(": line ", 1)[1] for line in err.splitlines() if ": line " in line]
    assert [line.split(":")[0] for line in reported] == [
        "2",
        "3, metadata",
        "4",
        "6",
        "7, content[0].type",
        "8",
        "9, data[0].role",
    ]
    assert "too many pairs" in reported[1] and "thread_bad was not imported" in reported[2]
    assert "'assistant'" in reported[3] and "'nobody' does not exist" in reported[5]
    assert "'system'" in reported[6]
    assert texts(api, "thread_ok") == ["hello"]
    assert not Thread.objects.filter(public_id__in=["thread_bad", "thread_nobody"]).exists()


def test_messages_without_their_thread_need_an_owner(tmp_path, api, user):
    lines = [message("msg_b", "thread_new", T0 + 1, "b"), message("msg_a", "thread_new", T0, "a")]
    err, failed = run_import(tmp_path, lines)
    assert failed and "pass --owner" in err
    assert not Thread.objects.filter(public_id="thread_new").exists()
    err, failed = run_import(tmp_path, lines, "--owner", "alice")
    assert not failed, err
    created = Thread.objects.get(public_id="thread_new")
    assert created.owner == user and int(created.created_at.timestamp()) == T0
    assert texts(api, "thread_new") == ["a", "b"]


def test_messages_join_their_thread_already_in_the_database(tmp_path, api, conversations):
    first_id = conversations[0]
    err, failed = run_import(tmp_path, [message("msg_added", first_id, text="added")])
    assert not failed, err
    assert texts(api, first_id)[-1] == "added"


def test_nothing_lands_in_another_owners_thread(tmp_path, conversations, other_user):
    first_id = conversations[0]  # alice's
    lines = [thread(first_id, owner="mallory"), message("msg_sneaky", first_id)]
    err, failed = run_import(tmp_path, lines)
    assert failed and "exists with another owner" in err and "was not imported" in err
    err, failed = run_import(tmp_path, [message("msg_sneaky", first_id)], "--owner", "mallory")
    assert failed and "belongs to another owner" in err
    assert not Message.objects.filter(public_id="msg_sneaky").exists()


def test_a_message_id_of_another_thread_is_its_own_in_this_one(tmp_path, api, conversations):
    # IDs are unique within a thread, as the Conversations API has them.
    first_id, second_id, _ = conversations
    taken = get(api, url("message-list", thread_id=first_id))["data"][0]["id"]
    before = texts(api, first_id)
    err, failed = run_import(tmp_path, [message(taken, second_id, text="again")])
    assert not failed, err
    assert texts(api, second_id) == ["solo", "", "again"]
    assert texts(api, first_id) == before
    err, failed = run_import(tmp_path, [message(taken, second_id, text="again")])
    assert not failed and "0 threads, 1 messages and 0 other items were already" in err, err
    assert texts(api, second_id) == ["solo", "", "again"]


def test_import_needs_an_existing_owner_and_readable_files(tmp_path, db):
    with pytest.raises(CommandError, match="No user 'ghost'"):
        call_command("import_threads", "-", "--owner", "ghost")
    with pytest.raises(CommandError, match="Cannot read"):
        call_command("import_threads", str(tmp_path / "missing.jsonl"))
    with pytest.raises(CommandError, match="--thread"):
        call_command("import_threads", "-", "--thread", "fc_abc")


def test_content_as_openai_stored_it_is_kept(tmp_path, api, user):
    """Annotations, refusals, empty content: what runs left, returned as it was."""
    cited = {
        "type": "text",
        "text": {
            "value": "See 【4:0†source】.",
            "annotations": [
                {
                    "type": "file_citation",
                    "text": "【4:0†source】",
                    "file_citation": {"file_id": "file-xyz"},
                    "start_index": 4,
                    "end_index": 16,
                },
                {
                    "type": "file_path",
                    "text": "sandbox:/out.csv",
                    "file_path": {"file_id": "file-out"},
                    "start_index": 0,
                    "end_index": 3,
                },
            ],
        },
    }
    refusal = {"type": "refusal", "refusal": "I can't help with that."}
    lines = [
        thread("thread_run"),
        message(
            "msg_cited",
            "thread_run",
            role="assistant",
            content=[cited, refusal],
            run_id="run_1",
            assistant_id="asst_1",
        ),
        message(
            "msg_cut",
            "thread_run",
            T0 + 1,
            content=[],
            status="incomplete",
            completed_at=None,
            incomplete_at=T0 + 1,
            incomplete_details={"reason": "max_tokens"},
        ),
    ]
    err, failed = run_import(tmp_path, lines, "--owner", "alice")
    assert not failed, err
    data = get(api, url("message-list", thread_id="thread_run"), order="asc")["data"]
    assert data == lines[1:]
    for item in data:
        assert_schema(item, "MessageObject")


@pytest.mark.parametrize(
    "change, param",
    [
        ({"id": "thread_x"}, "id"),
        ({"id": "msg_" + "x" * 61}, "id"),
        ({"created_at": -1}, "created_at"),
        ({"completed_at": 10**20}, "completed_at"),
        ({"created_at": "2024-01-01"}, "created_at"),
        ({"status": "done"}, "status"),
        ({"incomplete_details": {"reason": "bored"}}, "incomplete_details.reason"),
        ({"run_id": 7}, "run_id"),
        ({"attachments": [{"file_id": "f"}]}, "attachments[0].tools"),
        ({"object": "thread"}, "object"),
        ({"extra": 1}, "extra"),
        ({"content": [{"type": "text", "text": "plain"}]}, "content[0].text"),
        (
            {"content": [{"type": "text", "text": {"value": "x", "annotations": [{}]}}]},
            "content[0].text.annotations[0].type",
        ),
        (
            {"content": [{"type": "image_url", "image_url": {"url": "ftp://x"}}]},
            "content[0].image_url.url",
        ),
    ],
)
def test_stored_message_rules_name_the_field(change, param):
    with pytest.raises(validation.ValidationError) as raised:
        validation.clean_stored_message({**message("msg_1", "thread_1"), **change})
    assert raised.value.param == param


def test_stored_content_obeys_the_text_limit(settings):
    settings.THREADS_APP = {"MAX_TEXT_LENGTH": 5}
    long_text = {"type": "text", "text": {"value": "123456", "annotations": []}}
    with pytest.raises(validation.ValidationError, match="limit is 5"):
        validation.clean_stored_content([long_text])


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_progress_bar_waits_then_redraws_at_intervals():
    out, clock = io.StringIO(), FakeClock()
    progress = Progress(out, total=200, clock=clock)
    progress.update(10, "early")
    assert out.getvalue() == ""  # a short run prints nothing
    clock.now += Progress.delay
    progress.update(100, "half")
    assert "[" + "#" * 15 + "." * 15 + "]  50% half" in out.getvalue()
    clock.now += Progress.interval / 2
    progress.update(150, "too soon")
    assert "too soon" not in out.getvalue()
    progress.close(200, "done")
    assert out.getvalue().endswith("\n") and "100% done" in out.getvalue()


def test_progress_bar_off_or_without_total():
    out, clock = io.StringIO(), FakeClock()
    Progress(out, total=10, enabled=False, clock=clock).update(5, "x", force=True)
    assert out.getvalue() == ""
    progress = Progress(out, total=None, clock=clock)
    progress.update(5, "3 threads", force=True)
    assert out.getvalue() == "\r" + "3 threads".ljust(Progress.width + 40)


def test_export_to_stdout(tmp_path, conversations):
    out, err = io.StringIO(), io.StringIO()
    call_command("export_threads", "--progress", stdout=out, stderr=err)
    assert out.getvalue().encode() == export(tmp_path)
    assert "Exported 3 threads, 7 messages and 0 other items." in err.getvalue()


def test_export_reads_from_the_database_it_is_given(tmp_path, conversations):
    assert export(tmp_path, "--database", "default") == export(tmp_path)
    with pytest.raises(ConnectionDoesNotExist):
        export(tmp_path, "--database", "replica")


# Conversations items ------------------------------------------------------------

def add_items(api, thread_id, items):
    return post(api, url("item-list", conversation_id=conv_id(thread_id)),
                {"items": items})["data"]


def both_views(api, thread_id):
    """Everything either API answers about the thread, both list orders, whole pages."""
    conversation_id = conv_id(thread_id)
    return {
        "thread": get(api, url("thread-detail", thread_id=thread_id)),
        "messages": get(api, url("message-list", thread_id=thread_id), limit=100),
        "messages asc": get(api, url("message-list", thread_id=thread_id), order="asc"),
        "conversation": get(api, url("conversation-detail", conversation_id=conversation_id)),
        "items": get(api, url("item-list", conversation_id=conversation_id), limit=100),
        "items asc": get(api, url("item-list", conversation_id=conversation_id), order="asc"),
    }


@pytest.fixture
def interleaved(api):
    """A thread written through both APIs: a Threads user message, a function call and its
    output, a system message, an assistant message with a part only Conversations has
    (its metadata then set through the Threads API), and a last Threads message."""
    thread_id = post(api, url("thread-list"), {
        "messages": [{"role": "user", "content": "Weather in Oslo?"}],
        "metadata": {"source": "both"},
    })["id"]
    items = add_items(api, thread_id, [
        FUNCTION_CALL,
        FUNCTION_OUTPUT,
        {"role": "system", "content": "Answer in one line."},
        {"role": "assistant", "content": [
            {"type": "output_text", "text": "4 degrees; the forecast is attached."},
            {"type": "input_file", "file_id": "file-forecast", "filename": "oslo.pdf"},
        ]},
    ])
    post(api, url("message-detail", thread_id=thread_id, message_id=items[-1]["id"]),
         {"metadata": {"checked": "yes"}})
    post(api, url("message-list", thread_id=thread_id), {"role": "user", "content": "Thanks"})
    return thread_id


def test_items_round_trip_into_an_empty_store_in_both_views(tmp_path, api, interleaved):
    before = both_views(api, interleaved)
    assert [item["type"] for item in before["items asc"]["data"]] == [
        "message", "function_call", "function_call_output", "message", "message", "message"]
    assert len(before["messages asc"]["data"]) == 3
    first = export(tmp_path, name="first.jsonl")
    lines = [orjson.loads(line) for line in first.splitlines()]
    assert [line["object"] for line in lines] == [
        "thread", "thread.message", "thread.item", "thread.item", "thread.item",
        "thread.message", "thread.message"]
    empty_the_store()
    err, failed = run_import(tmp_path, first, name="first.jsonl")
    assert not failed, err
    assert "imported 1 threads, 3 messages and 3 other items" in err
    assert export(tmp_path, name="second.jsonl") == first
    assert both_views(api, interleaved) == before
    err, failed = run_import(tmp_path, first, name="first.jsonl")
    assert not failed, err
    assert "imported 0 threads, 0 messages and 0 other items; 1 threads, 3 messages and 3 " in err


def test_exported_item_lines_are_the_api_objects(tmp_path, api, interleaved):
    lines = [orjson.loads(line) for line in export(tmp_path).splitlines()]
    items = get(api, url("item-list", conversation_id=conv_id(interleaved)),
                order="asc")["data"]
    messages = get(api, url("message-list", thread_id=interleaved), order="asc")["data"]
    by_id = {line["id"] if "id" in line else line["item"]["id"]: line for line in lines[1:]}
    for item in items:
        line = by_id[item["id"]]
        if line["object"] == "thread.item":
            assert line["item"] == item and line["thread_id"] == interleaved
            assert set(line) == {"object", "thread_id", "created_at", "item"}
        else:
            assert line.get("item", item) == item
    # The Threads lines are what the Threads API returns, less the added `item`.
    assert [line for line in lines if line["object"] == "thread.message"] == [
        {**message, **({"item": by_id[message["id"]]["item"]}
                       if "item" in by_id[message["id"]] else {})}
        for message in messages
    ]
    assert "item" not in lines[1] and "item" in lines[5]  # written through Threads / not
    assert lines[5]["item"]["content"][1]["type"] == "input_file"
    assert all(part["type"] == "text" for part in lines[5]["content"])
    assert lines[5]["metadata"] == {"checked": "yes"}


def sdk_items_page(api, thread_id):
    from openai.pagination import SyncConversationCursorPage
    from openai.types.conversations import ConversationItem

    answer = get(api, url("item-list", conversation_id=conv_id(thread_id)))
    return SyncConversationCursorPage[ConversationItem].model_validate(answer)


def test_the_sdk_item_shapes_import_into_the_thread_named(tmp_path, api, user, interleaved):
    """model_dump() of a conversations.items.list page (newest first) and of one item."""
    page = sdk_items_page(api, interleaved)
    *older, newest = page.data[::-1]
    items_before = get(api, url("item-list", conversation_id=conv_id(interleaved)),
                       order="asc")["data"]
    texts_before = texts(api, interleaved)
    older_page = page.model_copy(update={"data": older[::-1]}).model_dump()
    assert older_page["data"][0]["type"] == "message" and "phase" in older_page["data"][0]
    empty_the_store()

    lines = [older_page, newest.model_dump()]
    err, failed = run_import(tmp_path, lines, "--owner", "alice")
    assert failed and err.count("an item names no thread; pass --thread") == 6
    err, failed = run_import(tmp_path, lines, "--thread", conv_id(interleaved))
    assert failed and "pass --owner to create it" in err
    err, failed = run_import(tmp_path, lines, "--owner", "alice", "--thread",
                             conv_id(interleaved))
    assert not failed, err
    assert "imported 1 threads, 0 messages and 6 other items" in err
    after = get(api, url("item-list", conversation_id=conv_id(interleaved)),
                order="asc")["data"]
    assert after == items_before
    assert texts(api, interleaved) == texts_before
    err, failed = run_import(tmp_path, lines, "--thread", interleaved)
    assert not failed and "0 threads, 0 messages and 6 other items were already" in err


def test_bad_item_records_are_reported_by_line(tmp_path, api, interleaved):
    lines = [orjson.loads(line) for line in export(tmp_path).splitlines()]
    empty_the_store()
    item_line, message_line = lines[2], lines[5]
    bad = [
        lines[0],
        {**item_line, "item": {**item_line["item"], "type": "telepathy"}},
        {**item_line, "item": {k: v for k, v in item_line["item"].items() if k != "id"}},
        {**item_line, "item": {k: v for k, v in item_line["item"].items() if k != "call_id"}},
        {**item_line, "extra": 1},
        {**message_line, "item": {**message_line["item"], "id": "msg_another"}},
        {**message_line, "item": {**message_line["item"], "role": "user"}},
        {**message_line, "item": {**message_line["item"], "content": []}},
        {"type": "function_call", "id": "fc_x", "call_id": "c", "name": "n", "arguments": "{}"},
        lines[1],
    ]
    err, failed = run_import(tmp_path, bad)
    assert failed
    reported = [line.split(": line ", 1)[1] for line in err.splitlines() if ": line " in line]
    assert [line.split(":")[0] for line in reported] == [
        "2, item.type", "3, item.id", "4, item.call_id", "5, extra", "6, item.id",
        "7, item.role", "8, item.content", "9"]
    assert "pass --thread" in reported[-1]
    assert "imported 1 threads, 1 messages and 0 other items" in err


@pytest.mark.parametrize(
    "change, param",
    [
        ({"object": "thread.message"}, "object"),
        ({"thread_id": "conv_x"}, "thread_id"),
        ({"created_at": None}, "created_at"),
        ({"item": {"type": "function_call", "id": "msg_1", "call_id": "c", "name": "n",
                   "arguments": "{}"}}, "item.id"),
        ({"item": {"type": "function_call", "id": "fc_" + "x" * 62, "call_id": "c",
                   "name": "n", "arguments": "{}"}}, "item.id"),
    ],
)
def test_item_record_rules_name_the_field(change, param):
    record = {"object": "thread.item", "thread_id": "thread_1", "created_at": T0,
              "item": {"type": "function_call_output", "id": "fco_1", "call_id": "c",
                       "output": "x"}}
    assert validation.clean_item_record(record)["item"]["type"] == "function_call_output"
    with pytest.raises(validation.ValidationError) as raised:
        validation.clean_item_record({**record, **change})
    assert raised.value.param == param


# Every row the store holds, through both doors ------------------------------

# One item of each type the Conversations API stores, shaped as OpenAI's schema has it.
EVERY_ITEM_TYPE = {
    "function_call": {"type": "function_call", "call_id": "call_w", "name": "get_weather",
                      "arguments": '{"city": "Oslo"}'},
    "function_call_output": {"type": "function_call_output", "call_id": "call_w",
                             "output": '{"celsius": 4}'},
    "file_search_call": {"type": "file_search_call", "queries": ["oslo climate"],
                         "results": [{"file_id": "file-1", "score": 0.5, "text": "Cold."}]},
    "web_search_call": {"type": "web_search_call",
                        "action": {"type": "search", "query": "Oslo weather"}},
    "image_generation_call": {"type": "image_generation_call", "result": "aGVsbG8="},
    "computer_call": {"type": "computer_call", "call_id": "call_c",
                      "action": {"type": "click", "button": "left", "x": 10, "y": 20},
                      "pending_safety_checks": []},
    "computer_call_output": {"type": "computer_call_output", "call_id": "call_c",
                             "output": {"type": "computer_screenshot",
                                        "image_url": "https://example.com/screen.png"}},
    "tool_search_call": {"type": "tool_search_call", "call_id": "call_t",
                         "execution": "server", "arguments": {"query": "weather"}},
    "tool_search_output": {"type": "tool_search_output", "call_id": "call_t",
                           "execution": "server", "tools": []},
    "additional_tools": {"type": "additional_tools", "role": "developer", "tools": []},
    "reasoning": {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Look."}],
                  "encrypted_content": "b3BhcXVl"},
    "program": {"type": "program", "call_id": "call_p", "code": "print(1)",
                "fingerprint": "fp_1"},
    "program_output": {"type": "program_output", "call_id": "call_p", "result": "1"},
    "compaction": {"type": "compaction", "encrypted_content": "Y29tcGFjdA=="},
    "code_interpreter_call": {"type": "code_interpreter_call", "container_id": "cntr_1",
                              "code": "2 + 2", "outputs": [{"type": "logs", "logs": "4"}]},
    "local_shell_call": {"type": "local_shell_call", "call_id": "call_l",
                         "action": {"type": "exec", "command": ["ls"], "env": {}}},
    "local_shell_call_output": {"type": "local_shell_call_output", "call_id": "call_l",
                                "output": "README.md"},
    "shell_call": {"type": "shell_call", "call_id": "call_s",
                   "action": {"commands": ["ls"], "timeout_ms": 1000, "max_output_length": 100},
                   "environment": {"type": "local"}},
    "shell_call_output": {"type": "shell_call_output", "call_id": "call_s",
                          "output": [{"stdout": "README.md", "stderr": "",
                                      "outcome": {"type": "exit", "exit_code": 0}}],
                          "max_output_length": 100},
    "apply_patch_call": {"type": "apply_patch_call", "call_id": "call_a",
                         "operation": {"type": "delete_file", "path": "old.txt"}},
    "apply_patch_call_output": {"type": "apply_patch_call_output", "call_id": "call_a",
                                "output": "done"},
    "mcp_list_tools": {"type": "mcp_list_tools", "server_label": "docs", "tools": [
        {"name": "search", "input_schema": {"type": "object"}}]},
    "mcp_approval_request": {"type": "mcp_approval_request", "server_label": "docs",
                             "name": "search", "arguments": "{}"},
    "mcp_approval_response": {"type": "mcp_approval_response", "approval_request_id": "mcpr_1",
                              "approve": True, "request_id": "mcpr_1"},
    "mcp_call": {"type": "mcp_call", "server_label": "docs", "name": "search",
                 "arguments": "{}", "output": "found"},
    "custom_tool_call": {"type": "custom_tool_call", "call_id": "call_x", "name": "grammar",
                         "input": "a b c"},
    "custom_tool_call_output": {"type": "custom_tool_call_output", "call_id": "call_x",
                                "output": "ok"},
}

URL_CITATION = {"type": "url_citation", "url": "https://example.com/oslo", "title": "Oslo",
                "start_index": 0, "end_index": 4}
LOGPROB = {"token": "Oslo", "logprob": -0.25, "bytes": [79, 115, 108, 111],
           "top_logprobs": [{"token": "Oslo", "logprob": -0.25, "bytes": [79, 115, 108, 111]}]}


@pytest.fixture
def every_row(api):
    """A thread holding every kind of row the store keeps: Threads messages of both roles
    with every part, a message only a run could leave (annotations, incomplete), messages of
    all four roles written through Conversations (string content and parts, annotations,
    logprobs, files, a refusal; one given its metadata through the Threads API), and one
    item of every other type."""
    thread_id = post(api, url("thread-list"), {
        "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": "Weather in Oslo?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
                {"type": "image_file", "image_file": {"file_id": "file-b", "detail": "low"}},
            ], "attachments": [{"file_id": "file-c", "tools": [{"type": "file_search"}]}],
             "metadata": {"k": "v"}},
            {"role": "assistant", "content": "Let me look."},
        ],
        "metadata": {"zeta": "z", "alpha": "a"},
        "tool_resources": {"code_interpreter": {"file_ids": ["file-a"]}},
    })["id"]
    Message.objects.create(
        thread=Thread.objects.get(public_id=thread_id),
        public_id="msg_fromarun000000000000001",
        role="assistant",
        content=[{"type": "text", "text": {"value": "See 【4:0†source】.", "annotations": [
            {"type": "file_citation", "text": "【4:0†source】",
             "file_citation": {"file_id": "file-xyz"}, "start_index": 4, "end_index": 16},
        ]}}, {"type": "refusal", "refusal": "Not that."}],
        status="incomplete",
        incomplete_details={"reason": "max_tokens"},
        completed_at=None,
        assistant_id="asst_abc",
        run_id="run_abc",
    )
    messages = add_items(api, thread_id, [
        {"role": "system", "content": "Answer in one line."},
        {"type": "message", "role": "developer",
         "content": [{"type": "input_text", "text": "Metric units."}]},
        {"role": "user", "content": [
            {"type": "input_text", "text": "And this?"},
            {"type": "input_image", "image_url": "https://example.com/sky.png"},
            {"type": "input_image", "file_id": "file-img", "detail": "high"},
            {"type": "input_file", "file_id": "file-forecast", "filename": "oslo.pdf"},
        ]},
        {"role": "assistant", "content": "4 degrees."},
        {"role": "assistant", "status": "incomplete", "content": [
            {"type": "output_text", "text": "Oslo: cold.", "annotations": [URL_CITATION],
             "logprobs": [LOGPROB]},
            {"text": "Bring a coat.", "type": "output_text"},
            {"type": "refusal", "refusal": "No forecast beyond a week."},
        ]},
    ])
    post(api, url("message-detail", thread_id=thread_id, message_id=messages[-1]["id"]),
         {"metadata": {"checked": "yes"}})
    items = list(EVERY_ITEM_TYPE.values())
    for start in range(0, len(items), 20):
        add_items(api, thread_id, items[start:start + 20])
    post(api, url("message-list", thread_id=thread_id), {"role": "user", "content": "Thanks"})
    return thread_id


def raw_views(api, thread_id):
    """The bytes both APIs answer about the thread: the thread, and its whole lists."""
    conversation_id = conv_id(thread_id)
    paths = [
        url("thread-detail", thread_id=thread_id),
        url("message-list", thread_id=thread_id) + "?limit=100",
        url("message-list", thread_id=thread_id) + "?limit=100&order=asc",
        url("conversation-detail", conversation_id=conversation_id),
        url("item-list", conversation_id=conversation_id) + "?limit=100",
        url("item-list", conversation_id=conversation_id) + "?limit=100&order=asc",
    ]
    answers = {}
    for path in paths:
        response = api.get(path)
        assert response.status_code == 200, response.content
        answers[path] = response.content
    return answers


def test_every_item_type_is_covered():
    from threads_app.items import ITEM_TYPES

    assert set(EVERY_ITEM_TYPE) == set(ITEM_TYPES)


def test_every_row_round_trips_to_identical_bytes(tmp_path, api, every_row):
    before = raw_views(api, every_row)
    items = get(api, url("item-list", conversation_id=conv_id(every_row)), limit=100)["data"]
    assert len(items) == 3 + 5 + len(EVERY_ITEM_TYPE) + 1
    first = export(tmp_path, name="first.jsonl")
    assert first.count(b"\n") == 1 + len(items)
    empty_the_store()
    err, failed = run_import(tmp_path, first, name="first.jsonl")
    assert not failed, err
    second = export(tmp_path, name="second.jsonl")
    assert second.splitlines() == first.splitlines()  # a line that differs shows itself
    assert second == first
    assert raw_views(api, every_row) == before


# The admin's export action ----------------------------------------------------

STAFF_PASSWORD = "correct horse battery staple"


@pytest.mark.django_db(transaction=True)
def test_the_admin_exports_the_file_import_threads_reads(
    tmp_path, browser, live_server, api, every_row, conversations
):
    """Export every thread from the thread list in Chromium; the file is the command's."""
    get_user_model().objects.create_superuser("staff", "staff@example.com", STAFF_PASSWORD)
    context = browser.new_context(accept_downloads=True)
    try:
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.goto(live_server.url + reverse("admin:login"))
        page.fill("#id_username", "staff")
        page.fill("#id_password", STAFF_PASSWORD)
        page.click("input[type=submit]")
        page.goto(live_server.url + reverse("admin:threads_app_thread_changelist"))
        page.check("#action-toggle")
        page.select_option("select[name=action]", "export_json")
        with page.expect_download() as started:
            page.click("button[name=index]")
        download = started.value
        assert download.suggested_filename.endswith(".jsonl")
        saved = tmp_path / download.suggested_filename
        download.save_as(saved)
    finally:
        context.close()
    from_admin = saved.read_bytes()
    # Every row of every thread, system, developer and tool rows included.
    assert from_admin == export(tmp_path)
    before = raw_views(api, every_row)
    empty_the_store()
    err, failed = run_import(tmp_path, from_admin, name="from-admin.jsonl")
    assert not failed, err
    assert export(tmp_path, name="again.jsonl") == from_admin
    assert raw_views(api, every_row) == before


# On a terminal ------------------------------------------------------------------


class Terminal(io.StringIO):
    """What a command writes to a terminal."""

    def isatty(self) -> bool:
        return True


def run_on_terminal(command_class, *args):
    """Run a command whose stdout and stderr are terminals, in colour; return both and
    the escape code that starts each style."""
    out, err = Terminal(), Terminal()
    command = command_class(stdout=out, stderr=err, force_color=True)
    failed = False
    try:
        call_command(command, *args)
    except CommandError:
        failed = True
    starts = {
        name: getattr(command.style, name)("x").split("x")[0] for name in ("ERROR", "SUCCESS")
    }
    assert all(starts.values()) and starts["ERROR"] != starts["SUCCESS"]
    return out.getvalue(), err.getvalue(), starts, failed


@pytest.fixture
def drawn_at_once(monkeypatch):
    """A progress bar drawn at every update, however quick the run."""
    monkeypatch.setattr(Progress, "delay", 0)
    monkeypatch.setattr(Progress, "interval", 0)


def test_export_progress_and_summary_are_not_shown_as_errors(
    tmp_path, conversations, drawn_at_once
):
    from threads_app.management.commands.export_threads import Command

    target = tmp_path / "export.jsonl"
    out, err, starts, failed = run_on_terminal(Command, "--progress", "-o", str(target))
    assert not failed and out == ""
    assert starts["ERROR"] not in err
    # One line redrawn in place, then the summary in the success style.
    bar, summary = err.split("\n")[:2]
    assert bar.count("\r") >= 3 and "100% 3 threads, 7 messages" in bar.split("\r")[-1]
    assert summary.startswith(starts["SUCCESS"]) and "Exported 3 threads" in summary
    assert err.count("\n") == 2


def test_import_progress_and_summary_are_not_shown_as_errors(
    tmp_path, conversations, drawn_at_once
):
    from threads_app.management.commands.import_threads import Command

    source = tmp_path / "export.jsonl"
    source.write_bytes(export(tmp_path) + b"{not json\n")
    out, err, starts, failed = run_on_terminal(Command, "--progress", str(source))
    assert failed  # the bad line: reported as an error, and the rest imported
    problem = f"{source}: line 11: not valid JSON"
    assert err.count(starts["ERROR"]) == 1 and starts["ERROR"] + problem in err
    # The bar is cleared for the problem, then drawn again below it.
    before, after = err.split(problem)
    assert before.endswith("\r" + starts["ERROR"]) and "\r[" in after
    assert "3 threads, 7 messages and 0 other items were already present" in out
    assert starts["ERROR"] not in out

    source.write_bytes(export(tmp_path))
    out, err, starts, failed = run_on_terminal(Command, "--no-progress", str(source))
    assert not failed and err == ""
    assert out.startswith(starts["SUCCESS"]) and "were already present" in out


def test_a_record_nested_past_the_api_limit_is_refused_and_the_lists_still_answer(
    tmp_path, api, interleaved
):
    """What the API refuses nested, the import refuses too: orjson reads 1,024 levels and
    writes 254, so a stored item nested 252 deep made every list of its conversation a 500."""
    lines = [orjson.loads(line) for line in export(tmp_path).splitlines()]
    empty_the_store()
    item_line = lines[2]
    deep: object = "bottom"
    for _ in range(250):
        deep = [deep]
    nested = {**item_line, "item": {**item_line["item"], "arguments": "{}", "output": deep}}
    err, failed = run_import(tmp_path, [lines[0], nested, lines[1]])
    assert failed and "more than 64 levels deep" in err
    assert "imported 1 threads, 1 messages and 0 other items" in err
    page = get(api, url("item-list", conversation_id=conv_id(interleaved)), order="asc")
    assert [item["id"] for item in page["data"]] == [lines[1]["id"]]


def test_a_thread_deleted_imported_again_and_deleted_again(tmp_path, api, conversations):
    """Its ID's tombstone from the first deletion makes way for the second's."""
    thread_id = conversations[0]
    data = export(tmp_path)
    assert api.delete(url("thread-detail", thread_id=thread_id)).status_code == 200
    err, failed = run_import(tmp_path, data)
    assert not failed, err
    assert get(api, url("thread-detail", thread_id=thread_id))["id"] == thread_id
    assert api.delete(url("thread-detail", thread_id=thread_id)).status_code == 200
    assert api.get(url("thread-detail", thread_id=thread_id)).status_code == 404
    listed = get(api, url("thread-list"), order="asc")["data"]
    assert thread_id not in [thread["id"] for thread in listed]


def test_a_message_deleted_imported_again_and_deleted_again(tmp_path, api, conversations):
    thread_id = conversations[0]
    data = export(tmp_path)
    message_id = get(api, url("message-list", thread_id=thread_id), order="asc")["data"][1]["id"]
    detail = url("message-detail", thread_id=thread_id, message_id=message_id)
    assert api.delete(detail).status_code == 200
    err, failed = run_import(tmp_path, data)
    assert not failed, err
    assert get(api, detail)["id"] == message_id
    listed = [m["id"] for m in get(api, url("message-list", thread_id=thread_id),
                                   order="asc")["data"]]
    assert api.delete(detail).status_code == 200
    assert api.get(detail).status_code == 404
    # Its place is where it stood last (imported back, at the end): a cursor naming it
    # pages from there, in both directions.
    messages = url("message-list", thread_id=thread_id)
    place = listed.index(message_id)
    after = get(api, messages, order="asc", after=message_id)["data"]
    before = get(api, messages, order="asc", before=message_id)["data"]
    assert [m["id"] for m in after] == listed[place + 1:]
    assert [m["id"] for m in before] == listed[:place]

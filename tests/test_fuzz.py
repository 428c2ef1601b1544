"""schemathesis against the live server, from the document the server itself serves.

Each operation gets ``FUZZ_EXAMPLES`` (50) valid and as many invalid requests,
derandomized so that a run is repeatable, about half of them aimed at objects
that exist. Every answer must: not be a 5xx, have a status and headers the document
names, match the document's schema, be the error envelope whenever it is an
error, and refuse invalid input. Auth is checked too: the same request without
a key, or with a wrong one, must be refused.
"""

import json
import os
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi import checks as openapi_checks

from threads_app.ids import conversation_id
from threads_app.models import Message, Thread
from threads_app.validation import text_part

from .conftest import mount_url

pytestmark = pytest.mark.django_db(transaction=True)

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "openapi.json"
OPERATION_IDS = sorted(
    op["operationId"]
    for item in json.loads(SNAPSHOT.read_text())["paths"].values()
    for op in item.values()
)
ENVELOPE_KEYS = {"message", "type", "param", "code"}


def error_envelope(ctx, response, case) -> None:
    """Every error, documented status or not, is OpenAI's envelope with a request ID."""
    if response.status_code < 400:
        return
    body = json.loads(response.content)
    assert set(body) == {"error"}, f"not the envelope: {body!r}"
    assert set(body["error"]) == ENVELOPE_KEYS, f"not the envelope: {body!r}"
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert response.headers["x-request-id"][0].startswith("req_")


CHECKS = [
    not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_headers_conformance,
    openapi_checks.response_schema_conformance,
    openapi_checks.negative_data_rejection,
    openapi_checks.ignored_auth,
    error_envelope,
]


@pytest.fixture
def api_schema(live_server):
    # The served document, not the snapshot: what a client of this server would read.
    document = requests.get(mount_url(live_server) + "openapi.json", timeout=10).json()
    schema = schemathesis.openapi.from_dict(document)
    # Unknown query parameters and headers are ignored, as HTTP servers do: not an error.
    schema.config.generation.update(allow_extra_parameters=False)
    # A body over MAX_BODY_SIZE is refused with 413 before it is read, whatever else
    # is wrong with it: a refusal of invalid data too (the generator once made 30 MB).
    rejection = schema.config.checks.negative_data_rejection
    schema.config.checks.negative_data_rejection = type(rejection)(
        expected_statuses=[*rejection.expected_statuses, "413"]
    )
    return schema


@pytest.fixture
def existing(user) -> dict[str, str]:
    """A thread of the caller's with messages: half the requests name these."""
    thread = Thread.objects.create(owner=user, metadata={"k": "v"})
    messages = [
        Message.objects.create(thread=thread, role="user", content=[text_part(str(i))])
        for i in range(3)
    ]
    return {
        "thread_id": thread.public_id,
        "message_id": messages[0].public_id,
        "conversation_id": conversation_id(thread.public_id),
        "item_id": messages[1].public_id,
    }


def cases(operation, mode: GenerationMode, existing: dict[str, str]):
    names = {p.name for p in operation.path_parameters}
    if not names:
        return operation.as_strategy(generation_mode=mode)
    real = {name: existing[name] for name in names}
    return st.one_of(
        operation.as_strategy(generation_mode=mode),
        operation.as_strategy(generation_mode=mode, path_parameters=real),
    )


@pytest.mark.parametrize("operation_id", OPERATION_IDS)
@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_fuzz(operation_id, mode, api_schema, live_server, secret, existing):
    operation = api_schema.find_operation_by_id(operation_id)
    base_url = mount_url(live_server).rstrip("/")
    session = requests.Session()
    headers = {"Authorization": f"Bearer {secret}"}
    statuses: list[int] = []

    @settings(
        max_examples=EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @given(case=cases(operation, mode, existing))
    def run(case):
        response = case.call_and_validate(
            base_url=base_url, session=session, headers=headers, checks=CHECKS
        )
        statuses.append(response.status_code)

    try:
        run()
    finally:
        session.close()
    assert len(statuses) == EXAMPLES
    if mode is GenerationMode.POSITIVE:
        assert 200 in statuses, "no valid request reached an existing object"


@pytest.mark.parametrize(
    ("path", "param"),
    [
        ("threads/thread_a%00b", "thread_id"),
        ("threads/thread_a%00b/messages", "thread_id"),
        ("threads/{thread}/messages/msg_%00", "message_id"),
        ("threads/{thread}/messages?after=msg_%00", "after"),
        ("threads?after=thread_%00", "after"),
        ("threads?before=thread_%00", "before"),
    ],
)
def test_null_character_in_an_id_is_refused(api, path, param):
    # Found by fuzzing: PostgreSQL cannot compare such a string, and answered 500.
    thread = api.post("/api/openai/v1/threads", {}, format="json").json()["id"]
    response = api.get("/api/openai/v1/" + path.format(thread=thread))
    assert response.status_code == 400
    assert response.json()["error"]["param"] == param


def test_unparsable_image_url_is_refused(api):
    # "http://[" makes urlsplit raise; it used to escape validation as a 500.
    thread = api.post("/api/openai/v1/threads", {}, format="json").json()["id"]
    part = {"type": "image_url", "image_url": {"url": "http://["}}
    response = api.post(
        f"/api/openai/v1/threads/{thread}/messages",
        {"role": "user", "content": [part]},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "content[0].image_url.url"

"""OpenAI's own JSON schemas, as a test oracle for what our API returns.

The schemas are an excerpt of OpenAI's OpenAPI document kept in the repository
(``tests/openai_schemas/``, with its licence and source); ``OPENAI_OPENAPI_JSON``
names another copy to validate against, a newer release of the document, say.
"""

import functools
import json
import os
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012

URI = "urn:openai-openapi"
DEFAULT_PATH = Path(__file__).resolve().parent / "openai_schemas" / "threads-and-conversations.json"


def document_path() -> Path:
    return Path(os.environ.get("OPENAI_OPENAPI_JSON") or DEFAULT_PATH)


@functools.cache
def registry() -> Registry:
    document = json.loads(document_path().read_text())
    # The document has no $schema; it is OpenAPI 3.1, whose schemas are 2020-12.
    return Registry().with_resource(URI, DRAFT202012.create_resource(document))


@functools.cache
def validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(
        {"$ref": f"{URI}#/components/schemas/{name}"}, registry=registry()
    )


def assert_schema(obj: Any, name: str) -> None:
    """Fail unless ``obj`` validates against OpenAI's component schema ``name``."""
    if not document_path().exists():
        # A check that cannot run must not pass quietly as a skip.
        pytest.fail(f"OpenAI's OpenAPI document is not at {document_path()}")
    if name.startswith("List") and isinstance(obj, dict) and obj.get("data") == []:
        # Known quirk of the document: it types first_id/last_id as strings, but
        # the real API (and our contract) sends null on an empty page.
        assert obj["first_id"] is None and obj["last_id"] is None
        obj = {**obj, "first_id": "", "last_id": ""}
    errors = sorted(validator(name).iter_errors(obj), key=lambda e: list(e.path))
    assert not errors, f"{name}: " + "; ".join(
        f"{list(e.path)}: {e.message}" for e in errors[:5]
    )


def assert_thread_list(obj: dict) -> None:
    """``GET /threads`` has no OpenAI schema: the list envelope of ThreadObjects."""
    assert set(obj) == {"object", "data", "first_id", "last_id", "has_more"}
    assert obj["object"] == "list"
    for thread in obj["data"]:
        assert_schema(thread, "ThreadObject")

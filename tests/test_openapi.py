"""The OpenAPI document: as the demo serves it, checked in, and independent of the host."""

import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client, override_settings
from django.urls import URLPattern

from threads_app import urls as app_urls
from threads_app.pagination import ThreadPagination
from threads_app.views import ThreadViewSet

from .conftest import url

SNAPSHOT = Path(__file__).resolve().parent / "snapshots" / "openapi.json"
REGENERATE = (
    "The API's OpenAPI document differs from tests/snapshots/openapi.json. If the change "
    "is meant, regenerate the snapshot and review its diff:\n"
    "    python manage.py threads_openapi > tests/snapshots/openapi.json"
)
TEST_MOUNT = "/api/openai/v1"


def snapshot() -> dict:
    return json.loads(SNAPSHOT.read_text())


def get_json(path: str) -> dict:
    response = Client().get(path)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    return response.json()


@override_settings(ROOT_URLCONF="project.urls")
def test_demo_serves_the_snapshot():
    assert get_json("/v1/openapi.json") == snapshot(), REGENERATE


def test_command_prints_the_served_document(capsys):
    with override_settings(ROOT_URLCONF="project.urls"):
        call_command("threads_openapi")
    assert json.loads(capsys.readouterr().out) == snapshot(), REGENERATE


@override_settings(ROOT_URLCONF="tests.spectacular_urls")
def test_drf_spectacular_view_serves_the_same_document(capsys):
    response = Client().get("/v1/openapi.json")
    assert response.status_code == 200, response.content
    call_command("threads_openapi")
    assert json.loads(response.content) == json.loads(capsys.readouterr().out) == snapshot()


class AscendingThreadPagination(ThreadPagination):
    """The threads' paginator with its policies and its schema hooks changed."""

    cursor_params = ("after",)
    orders = ("asc",)
    default_order = "asc"

    def get_max_limit(self) -> int:
        return 7

    def get_schema_operation_parameters(self, view):
        extra = {"in": "query", "name": "shard", "schema": {"type": "string"}}
        return [*super().get_schema_operation_parameters(view), extra]

    def get_paginated_response_schema(self, schema):
        items = schema["items"]["$ref"].rsplit("/", 1)[1]
        return {**super().get_paginated_response_schema(schema), "title": f"Page of {items}"}


def test_lists_are_described_by_their_paginator(monkeypatch):
    monkeypatch.setattr(ThreadViewSet, "pagination_class", AscendingThreadPagination)
    document = get_json(url("openapi"))
    listed = document["paths"]["/threads"]["get"]
    parameters = {p["name"]: p for p in listed["parameters"]}
    assert list(parameters) == ["after", "limit", "order", "shard"]
    assert parameters["limit"]["schema"]["maximum"] == 7
    assert parameters["order"]["schema"]["enum"] == ["asc"]
    assert parameters["order"]["description"] == "By creation; `asc` if left out."
    answer = listed["responses"]["200"]["content"]["application/json"]["schema"]
    assert answer == {"$ref": "#/components/schemas/ThreadList"}
    expected = snapshot()
    expected_pages = expected["components"]["schemas"]["ThreadList"]
    pages = document["components"]["schemas"]["ThreadList"]
    assert pages == {**expected_pages, "title": "Page of ThreadObject"}
    # Nothing else changes: the other lists keep their own paginators.
    document["servers"] = expected["servers"]
    document["paths"]["/threads"]["get"] = expected["paths"]["/threads"]["get"]
    document["components"]["schemas"]["ThreadList"] = expected_pages
    assert document == expected


def test_another_mount_changes_only_the_server():
    # tests.settings is hostile (REST_FRAMEWORK, SPECTACULAR_SETTINGS): none of it shows.
    document = get_json(url("openapi"))
    assert document["servers"] == [{"url": TEST_MOUNT}]
    assert {**document, "servers": [{"url": "/v1"}]} == snapshot(), REGENERATE


def test_paths_are_the_routes_relative_to_the_mount():
    document = snapshot()
    documented = {
        (path, method.upper()) for path, item in document["paths"].items() for method in item
    }
    served = set()
    for pattern in app_urls.urlpatterns:
        actions = getattr(pattern.callback, "actions", None)
        if isinstance(pattern, URLPattern) and actions:
            route = "/" + str(pattern.pattern).replace("<str:", "{").replace(">", "}")
            served |= {(route, method.upper()) for method in actions if method != "head"}
    assert served - documented == set(), (
        "routes missing from the document: annotate their views in threads_app/schema.py"
    )
    assert documented == served


def test_every_operation_names_its_errors_in_the_envelope():
    document = snapshot()
    for path, item in document["paths"].items():
        for method, op in item.items():
            answers = op["responses"]
            assert {"200", "400", "401", "429", "500", "503"} <= set(answers), (path, method)
            for status, answer in answers.items():
                schema = answer["content"]["application/json"]["schema"]["$ref"]
                expected = "Error" if status != "200" else schema.rsplit("/", 1)[1]
                assert schema.endswith("/" + expected), (path, method, status)
                assert answer["headers"]["x-request-id"]["required"] is True
            assert op["security"] == [{"ApiKey": []}]
    envelope = document["components"]["schemas"]["Error"]
    assert envelope["properties"]["error"]["required"] == ["message", "type", "param", "code"]


@override_settings(THREADS_APP={"MAX_PAGE_SIZE": 50, "MAX_TEXT_LENGTH": 1000})
def test_document_states_the_limits_in_force():
    document = get_json(url("openapi"))
    limit = next(
        p for p in document["paths"]["/threads"]["get"]["parameters"] if p["name"] == "limit"
    )
    assert limit["schema"]["maximum"] == 50
    content = document["components"]["schemas"]["CreateMessageRequest"]["properties"]["content"]
    assert content["oneOf"][0]["maxLength"] == 1000


def test_document_is_public_and_errors_are_enveloped():
    client = Client()
    assert client.get(url("openapi"), HTTP_AUTHORIZATION="Bearer wrong").status_code == 200
    response = client.post(url("openapi"), data={}, content_type="application/json")
    assert response.status_code == 405
    assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    assert response["x-request-id"].startswith("req_")


def test_docs_page_uses_the_installed_redoc():
    client = Client()
    page = client.get(url("docs"))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'spec-url="{TEST_MOUNT}/openapi.json"' in html
    assert f'src="{TEST_MOUNT}/docs/redoc.standalone.js"' in html
    assert "http" not in html.replace("http-equiv", "")  # no CDN, nothing fetched elsewhere
    script = client.get(url("docs-script"))
    assert script.status_code == 200
    assert script["Content-Type"] == "text/javascript"
    assert len(b"".join(script.streaming_content)) > 100_000


@pytest.mark.parametrize("name", ["openapi", "docs"])
def test_documentation_routes_come_before_the_catch_all(name):
    assert url(name).startswith(TEST_MOUNT + "/")
    assert Client().get(url(name) + "/nope").status_code == 404

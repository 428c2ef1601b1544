"""Fixing and the trail through Django's test client: places, row errors, keys, log, export.

The same flows in Chromium are in ``test_admin_staff_browser.py``.
"""

import re

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.test import RequestFactory
from django.utils import timezone

from threads_app.admin import APIKeyAdmin
from threads_app.models import APIKey, Message

from .test_admin import (
    admin_url,
    field_block,
    html,
    make_message,
    make_thread,
    message_form_data,
)

pytestmark = pytest.mark.django_db


# Ways back to the thread -------------------------------------------------------------


class TestPlaces:
    def test_message_pages_lead_through_the_thread(self, admin_client, user):
        thread = make_thread(user, ["a", "b", "c"])
        message = thread.messages.order_by("seq")[1]
        place = (f'{admin_url("thread", "change", thread.pk)}?after={message.seq - 1}'
                 f"#{message.public_id}")
        for view in ("change", "history", "delete"):
            page = html(admin_client.get(admin_url("message", view, message.pk)))
            crumbs = re.search(r'<div class="breadcrumbs">.*?</div>', page, re.S).group(0)
            assert f'href="{place}"' in crumbs, view
            assert f'href="{admin_url("message", "changelist")}"' not in crumbs, view
        add = html(admin_client.get(admin_url("message", "add") + f"?thread={thread.public_id}"))
        assert f'{admin_url("thread", "change", thread.pk)}?latest=1#transcript' in add
        # A thread ID that is no ID: the usual breadcrumbs, no error.
        assert html(admin_client.get(admin_url("message", "add") + "?thread=%00x"))

    def test_deleting_returns_to_where_the_message_stood(self, admin_client, user):
        thread = make_thread(user, ["a", "b", "c"])
        message = thread.messages.order_by("seq")[1]
        response = admin_client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
        assert response["Location"] == (
            f'{admin_url("thread", "change", thread.pk)}?after={message.seq - 1}#transcript')

    def test_without_thread_permissions_the_messages_list_is_the_way_back(self, client, user):
        staff = get_user_model().objects.create_user("editor", is_staff=True)
        staff.user_permissions.add(*Permission.objects.filter(
            codename__in=["view_message", "change_message", "delete_message"]))
        client.force_login(staff)
        message = make_thread(user, ["a", "b"]).messages.order_by("seq")[0]
        page = html(client.get(admin_url("message", "change", message.pk)))
        assert f'href="{admin_url("message", "changelist")}"' in page
        response = client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
        assert response["Location"] == admin_url("message", "changelist")

    def test_delete_confirmation_names_role_time_and_text(self, admin_client, user):
        thread = make_thread(user)
        message = make_message(thread, "Please refund order A-1042, it never came.",
                               role="assistant")
        page = html(admin_client.get(admin_url("message", "delete", message.pk)))
        summary = re.search(r'<dl class="threads-delete-summary">.*?</dl>', page, re.S).group(0)
        assert "assistant" in summary and "Please refund order A-1042" in summary
        assert timezone.localtime(message.created_at).strftime("%Y-%m-%d %H:%M:%S") in summary
        # The bulk action's confirmation says as much of each.
        bulk = html(admin_client.post(admin_url("message", "changelist"), {
            "action": "delete_selected", "_selected_action": [message.pk]}))
        assert "assistant" in bulk and "“Please refund order A-1042, it never came.”" in bulk


# Errors on their row ----------------------------------------------------------------


class TestRowErrors:
    def error_rows(self, page: str, field: str) -> list[str]:
        block = field_block(page, field)
        rows = re.findall(r'class="[^"]*threads-row\b[^"]*" data-row-index="(\d+)"', block)
        marked = re.findall(r'class="[^"]*threads-row-error[^"]*" data-row-index="(\d+)"', block)
        assert rows, field
        return marked

    @pytest.mark.parametrize("pairs, marked", [
        ({"metadata-1-key": "k" * 65}, ["1"]),          # too long a key: that row
        ({"metadata-2-key": "a", "metadata-2-value": "again"}, ["2"]),  # the repeated key
        ({"metadata-2-key": "", "metadata-2-value": "orphan"}, ["2"]),  # a value with no key
    ])
    def test_a_metadata_error_marks_its_row(self, admin_client, user, pairs, marked):
        message = make_message(make_thread(user), "hi", metadata={"a": "1", "b": "2"})
        data = message_form_data(message, **pairs)
        page = html(admin_client.post(admin_url("message", "change", message.pk), data))
        assert self.error_rows(page, "metadata") == marked
        assert 'aria-invalid="true"' not in field_block(page, "content")

    def test_too_many_pairs_marks_no_row(self, admin_client, user):
        message = make_message(make_thread(user), "hi")
        data = message_form_data(message, **{
            f"metadata-{i}-{part}": f"{part}{i}" for i in range(17) for part in ("key", "value")})
        page = html(admin_client.post(admin_url("message", "change", message.pk), data))
        assert "too many pairs" in field_block(page, "metadata")
        assert self.error_rows(page, "metadata") == []

    def test_content_errors_mark_the_part(self, admin_client, user):
        message = make_message(make_thread(user), [
            {"type": "text", "text": "kept"},
            {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
        ])
        change = admin_url("message", "change", message.pk)
        emptied = message_form_data(message, **{"content-0-text": ""})
        assert self.error_rows(html(admin_client.post(change, emptied)), "content") == ["0"]
        bad_url = message_form_data(message, **{"content-1-url": "ftp://example.com/a.png"})
        assert self.error_rows(html(admin_client.post(change, bad_url)), "content") == ["1"]
        attachments = message_form_data(message, **{"attachments-0-tools": ["code_interpreter"]})
        page = html(admin_client.post(change, attachments))
        assert self.error_rows(page, "attachments") == ["0"]

    def test_a_new_message_marks_its_empty_part(self, admin_client, user):
        thread = make_thread(user)
        page = html(admin_client.post(admin_url("message", "add"), {
            "thread": thread.public_id, "role": "user",
            "content-0-type": "text", "content-0-text": "fine",
            "content-5-type": "text", "content-5-text": "",
        }))
        assert self.error_rows(page, "content") == ["1"]

    def test_rows_added_by_number_are_all_read(self, user, admin_user):
        # What "Add another" sends: rows numbered past the blank one, with gaps.
        message = make_message(make_thread(user), "hi")
        data = message_form_data(message, **{
            "metadata-0-key": "a", "metadata-0-value": "1",
            "metadata-7-key": "b", "metadata-7-value": "2",
            "metadata-12-key": "c", "metadata-12-value": "3",
            "content-3-type": "text", "content-3-extra": "1", "content-3-text": "more",
            "content-9-type": "text", "content-9-extra": "1", "content-9-text": "",
        })
        request = RequestFactory().get("/")
        request.user = admin_user
        form_class = admin.site.get_model_admin(Message).get_form(request, message)
        form = form_class(data, instance=message)
        assert form.is_valid(), form.errors
        assert form.cleaned_data["metadata"] == {"a": "1", "b": "2", "c": "3"}
        assert [part["text"]["value"] for part in form.cleaned_data["content"]] == ["hi", "more"]


# API keys: the user by name ------------------------------------------------------------


class TestKeyUser:
    def test_the_user_is_searched_by_name_where_the_user_admin_allows(self, admin_client):
        page = html(admin_client.get(admin_url("apikey", "add")))
        assert "admin-autocomplete" in page
        user = get_user_model().objects.create_user("zoe", email="zoe@example.com")
        search = admin_client.get("/admin/autocomplete/", {
            "app_label": "threads_app", "model_name": "apikey", "field_name": "user",
            "term": "zoe@"})
        assert [r["text"] for r in search.json()["results"]] == ["zoe"]
        response = admin_client.post(admin_url("apikey", "add"), {"user": user.pk})
        assert response.status_code == 302 and APIKey.objects.get().user == user

    def request(self, user) -> object:
        request = RequestFactory().get("/")
        request.user = user
        return request

    def user_field(self, site: admin.AdminSite, request) -> object:
        key_admin = APIKeyAdmin(APIKey, site)
        return key_admin.get_form(request)().fields["user"]

    def test_without_a_user_admin_the_username_is_typed(self, admin_user, user):
        site = admin.AdminSite(name="bare")  # a host that registers no user admin
        field = self.user_field(site, self.request(admin_user))
        assert field.widget.input_type == "text" and "username" in field.help_text
        form = APIKeyAdmin(APIKey, site).get_form(self.request(admin_user))(
            {"user": user.username, "name": "ci"})
        assert form.is_valid() and form.cleaned_data["user"] == user
        unknown = APIKeyAdmin(APIKey, site).get_form(self.request(admin_user))({"user": "nobody"})
        assert "No user has this username." in unknown.errors["user"]

    def test_without_a_user_search_or_permission_the_username_is_typed(self, user):
        staff = get_user_model().objects.create_user("keys", is_staff=True)
        staff.user_permissions.add(*Permission.objects.filter(codename="add_apikey"))
        # May not view users: Django's autocomplete would refuse them, so no autocomplete.
        field = self.user_field(admin.site, self.request(staff))
        assert field.widget.input_type == "text" and field.to_field_name == "username"

        class UnsearchedUsers(admin.ModelAdmin):
            pass

        site = admin.AdminSite(name="unsearched")
        site.register(get_user_model(), UnsearchedUsers)
        superuser = get_user_model().objects.create_superuser("root")
        assert self.user_field(site, self.request(superuser)).to_field_name == "username"

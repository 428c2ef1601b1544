"""Fixing and the trail through Django's test client: places, row errors, keys, log, export.

The same flows in Chromium are in ``test_admin_staff_browser.py``.
"""

import io
import json
import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.utils import timezone

from threads_app import trail
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
        place = (f'{admin_url("thread", "change", thread.pk)}?message={message.public_id}'
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


# The trail ------------------------------------------------------------------------


def change_message(message: Message) -> list:
    entry = LogEntry.objects.filter(object_id=str(message.pk)).latest("pk")
    return json.loads(entry.change_message)


class TestTrail:
    def test_an_edit_keeps_the_values_it_replaced(self, admin_client, user):
        message = make_message(make_thread(user), "before", metadata={"k": "old"},
                               attachments=[{"file_id": "file_1", "tools": []}])
        admin_client.post(admin_url("message", "change", message.pk), message_form_data(
            message, **{"content-0-text": "after", "metadata-0-value": "new"}))
        entry = LogEntry.objects.get(object_id=str(message.pk))
        assert entry.action_flag == CHANGE
        assert entry.get_change_message() == "Changed content and metadata."
        assert change_message(message)[-1] == {trail.REPLACED: {
            "thread": message.thread.public_id,
            "fields": {"content": [{"type": "text", "text": {"value": "before",
                                                             "annotations": []}}],
                       "metadata": {"k": "old"}},
        }}
        history = html(admin_client.get(admin_url("message", "history", message.pk)))
        assert "Before this change" in history and ">before</pre>" in history

    def test_an_untouched_save_keeps_nothing_more(self, admin_client, user):
        message = make_message(make_thread(user), "same")
        admin_client.post(admin_url("message", "change", message.pk), message_form_data(message))
        assert change_message(message) == []

    def test_deletions_keep_the_message_and_show_in_the_threads_history(
        self, admin_client, user
    ):
        thread = make_thread(user, ["first", "second", "third"])
        one, two, three = thread.messages.order_by("seq")
        admin_client.post(admin_url("message", "delete", one.pk), {"post": "yes"})
        admin_client.post(admin_url("message", "changelist"), {
            "action": "delete_selected", "_selected_action": [two.pk, three.pk], "post": "yes"})
        entries = LogEntry.objects.filter(action_flag=DELETION).order_by("pk")
        assert entries[0].object_repr == one.public_id
        assert {entry.object_repr for entry in entries[1:]} == {two.public_id, three.public_id}
        kept = trail.kept(entries[0])
        assert kept["kind"] == "deleted" and kept["thread"] == thread.public_id
        assert kept["role"] == "user" and kept["fields"]["content"] == one.content
        history = html(admin_client.get(admin_url("thread", "history", thread.pk)))
        for message, text in [(one, "first"), (two, "second"), (three, "third")]:
            assert f'id="deleted-{message.public_id}"' in history
            assert f">{text}</pre>" in history

    def test_a_thread_history_shows_only_its_own_deletions(self, admin_client, user):
        mine, other = make_thread(user, ["mine"]), make_thread(user, ["other"])
        # Text that names the other thread as JSON would is not that thread's marker.
        tricky = make_message(mine, f'"thread": "{other.public_id}"')
        for message in [*other.messages.all(), tricky]:
            admin_client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
        history = html(admin_client.get(admin_url("thread", "history", other.pk)))
        assert history.count('class="threads-deleted-message"') == 1
        assert f'id="deleted-{tricky.public_id}"' not in history

    def test_purge_leaves_who_when_and_which_fields(self, admin_client, user):
        keep, erase = make_thread(user, ["keep me"]), make_thread(user, ["erase me"])
        pks = {}
        for thread in (keep, erase):
            message = pks[thread.public_id] = thread.messages.get()
            admin_client.post(admin_url("message", "change", message.pk), message_form_data(
                message, **{"content-0-text": "edited"}))
            admin_client.post(admin_url("message", "delete", message.pk), {"post": "yes"})
        with pytest.raises(CommandError):
            call_command("purge_message_trail")
        out = io.StringIO()
        call_command("purge_message_trail", "--thread", erase.public_id, "--dry-run", stdout=out)
        assert out.getvalue().startswith("2 log entries")
        call_command("purge_message_trail", "--thread", erase.public_id, stdout=out)
        assert "Purged what 2 log entries kept" in out.getvalue()

        entries = list(LogEntry.objects.order_by("pk"))
        assert len(entries) == 4
        assert all(entry.user.username == "admin" and entry.action_time for entry in entries)
        for entry in entries:
            erased = entry.object_id == str(pks[erase.public_id].pk)
            assert (trail.kept(entry) is None) == erased
            texts = ("keep me", "erase me", "edited")
            assert any(text in entry.change_message for text in texts) == (not erased)
        changes = [entry.get_change_message() for entry in entries if entry.action_flag == CHANGE]
        assert changes == ["Changed content."] * 2

        LogEntry.objects.update(action_time=timezone.now() - timedelta(days=30))
        call_command("purge_message_trail", "--older-than", "31", stdout=out)
        assert trail.message_entries().count() == 2
        call_command("purge_message_trail", "--older-than", "29", stdout=out)
        assert not trail.message_entries().exists()


# Export of the list ---------------------------------------------------------------


class TestListExport:
    def test_the_page_says_what_the_export_holds(self, admin_client, user, other_user):
        make_thread(user, ["marmalade please"])
        make_thread(other_user, ["marmalade too"])
        make_thread(user, ["apricot"])
        changelist = admin_url("thread", "changelist")
        listing = html(admin_client.get(changelist, {"q": "marmalade",
                                                     "owner": user.pk}))
        link = re.search(r'href="([^"]*)" class="threads-export-link">Export this list', listing)
        assert link, "no export link"
        page = html(admin_client.get(link.group(1).replace("&amp;", "&")))
        assert "<strong>1 thread</strong>" in page
        assert "matching the search “marmalade”" in page and "owner: alice" in page
        everything = html(admin_client.get(admin_url("thread", "export")))
        assert "<strong>3 threads</strong>" in everything and "no search or filter" in everything
        assert "Export all threads" in html(admin_client.get(changelist))

    def test_download_streams_the_exporter_for_what_the_list_selects(self, admin_client, user):
        wanted = [make_thread(user, ["marmalade"]) for _ in range(2)]
        make_thread(user, ["other"])
        response = admin_client.get(admin_url("thread", "export_download"), {"q": "marmalade"})
        written = io.StringIO()
        call_command("export_threads", *[arg for t in wanted for arg in ("--thread", t.public_id)],
                     stdout=written, stderr=io.StringIO())
        assert b"".join(response.streaming_content) == written.getvalue().encode()

    def test_bad_parameters_go_back_to_the_list(self, admin_client, user):
        for view in ("export", "export_download"):
            response = admin_client.get(admin_url("thread", view), {"nonsense__x": "1"})
            assert response["Location"] == admin_url("thread", "changelist") + "?e=1"

    def test_staff_without_view_permission_get_nothing(self, client, user):
        staff = get_user_model().objects.create_user("nobody", is_staff=True)
        client.force_login(staff)
        for view in ("export", "export_download"):
            assert client.get(admin_url("thread", view)).status_code == 403

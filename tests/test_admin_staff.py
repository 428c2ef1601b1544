"""Fixing and the trail through Django's test client: places, row errors, keys, log, export.

The same flows in Chromium are in ``test_admin_staff_browser.py``.
"""

import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.utils import timezone

from .test_admin import (
    admin_url,
    html,
    make_message,
    make_thread,
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

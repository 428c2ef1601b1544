"""Mount with ``path("v1/", include("threads_app.urls"))``; paths have no trailing slash."""

from django.urls import path, re_path

from .views import InvalidURLView, MessageViewSet, ThreadViewSet

app_name = "threads_app"

COLLECTION = {"get": "list", "post": "create"}
# OpenAI modifies with POST on the object's own path, not PUT or PATCH.
OBJECT = {"get": "retrieve", "post": "partial_update", "delete": "destroy"}

urlpatterns = [
    path("threads", ThreadViewSet.as_view(COLLECTION), name="thread-list"),
    path("threads/<str:thread_id>", ThreadViewSet.as_view(OBJECT), name="thread-detail"),
    path(
        "threads/<str:thread_id>/messages",
        MessageViewSet.as_view(COLLECTION),
        name="message-list",
    ),
    path(
        "threads/<str:thread_id>/messages/<str:message_id>",
        MessageViewSet.as_view(OBJECT),
        name="message-detail",
    ),
    # Last: anything else under the mount is an unknown URL, answered in the envelope.
    re_path(r"", InvalidURLView.as_view(), name="invalid-url"),
]

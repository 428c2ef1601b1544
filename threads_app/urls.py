"""Mount with ``path("v1/", include("threads_app.urls"))``; paths have no trailing slash."""

from django.urls import path, re_path

from .conversations import ConversationViewSet, ItemViewSet
from .schema import DocsScriptView, DocsView, OpenAPIView
from .views import InvalidURLView, MessageViewSet, ThreadViewSet

app_name = "threads_app"

COLLECTION = {"get": "list", "post": "create"}
# OpenAI modifies with POST on the object's own path, not PUT or PATCH.
OBJECT = {"get": "retrieve", "post": "partial_update", "delete": "destroy"}

urlpatterns = [
    # Messages first: they are most of the traffic, and each pattern tried before
    # the one that matches costs a regular-expression match.
    path(
        "threads/<str:thread_id>/messages/<str:message_id>",
        MessageViewSet.as_view(OBJECT),
        name="message-detail",
    ),
    path(
        "threads/<str:thread_id>/messages",
        MessageViewSet.as_view(COLLECTION),
        name="message-list",
    ),
    path("threads", ThreadViewSet.as_view(COLLECTION), name="thread-list"),
    path("threads/<str:thread_id>", ThreadViewSet.as_view(OBJECT), name="thread-detail"),
    path("conversations", ConversationViewSet.as_view({"post": "create"}),
         name="conversation-list"),
    path("conversations/<str:conversation_id>", ConversationViewSet.as_view(OBJECT),
         name="conversation-detail"),
    path("conversations/<str:conversation_id>/items", ItemViewSet.as_view(COLLECTION),
         name="item-list"),
    path("conversations/<str:conversation_id>/items/<str:item_id>",
         ItemViewSet.as_view({"get": "retrieve", "delete": "destroy"}), name="item-detail"),
    path("openapi.json", OpenAPIView.as_view(), name="openapi"),
    path("docs", DocsView.as_view(), name="docs"),
    path("docs/redoc.standalone.js", DocsScriptView.as_view(), name="docs-script"),
    # Last: anything else under the mount is an unknown URL, answered in the envelope.
    re_path(r"", InvalidURLView.as_view(), name="invalid-url"),
]

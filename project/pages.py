"""The demo site's own pages, at the top of the site: a start page at ``/``.

Its templates are in the project's ``templates/`` folder; the app's admin
templates stay inside ``threads_app/``.
"""

from typing import Any

from django.urls import path, reverse
from django.views.generic import TemplateView


class StartView(TemplateView):
    """What this server is, where its API and its documentation are, and how to get a key."""

    template_name = "index.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        threads = reverse("threads_app:thread-list")
        return {
            **super().get_context_data(**kwargs),
            # The SDK's base_url: the mount, without the trailing slash it adds paths to.
            "base_url": self.request.build_absolute_uri(threads).removesuffix("/threads"),
            "docs_url": reverse("threads_app:docs"),
            "openapi_url": reverse("threads_app:openapi"),
            "admin_url": reverse("admin:index"),
            "api_keys_url": reverse("admin:threads_app_apikey_changelist"),
        }


urlpatterns = [path("", StartView.as_view(), name="start")]

"""A host that serves the API's document with drf-spectacular's own view, given our settings,
in the place of ours."""

from django.urls import include, path
from drf_spectacular.views import SpectacularJSONAPIView

from threads_app import urls as app_urls
from threads_app.schema import document_settings

urlpatterns = [
    path(
        "v1/openapi.json",
        SpectacularJSONAPIView.as_view(
            patterns=app_urls.urlpatterns,
            custom_settings=document_settings(),
            # Else the host's REST_FRAMEWORK default, which tests.settings makes one a day.
            throttle_classes=[],
        ),
    ),
    path("v1/", include("threads_app.urls")),
]

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path(
        "api/openai/v1/",
        include(("threads_app.urls", "threads_app"), namespace="openai"),
    ),
]

from django.urls import path

from project.urls import urlpatterns as project_urlpatterns

from .floor import floor, floor_with_query

urlpatterns = [
    path("bench/floor", floor, name="bench-floor"),
    path("bench/floor-query", floor_with_query, name="bench-floor-query"),
    *project_urlpatterns,
]

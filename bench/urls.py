from django.urls import path

from project.urls import urlpatterns as project_urlpatterns

from .floor import floor

urlpatterns = [path("bench/floor", floor, name="bench-floor"), *project_urlpatterns]

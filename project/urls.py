from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # The API first: Django tries patterns in order, and an include that does not
    # match a path costs an exception (about 1.5% of an API request; bench/).
    path("v1/", include("threads_app.urls")),
    path("admin/", admin.site.urls),
    path("", include("project.pages")),  # the demo's own pages: templates/
]

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    # The API first: Django tries patterns in order, and an include that does not
    # match a path costs an exception (about 1.5% of an API request; bench/).
    path("v1/", include("threads_app.urls")),
    path("admin/", admin.site.urls),
    path("", include("project.pages")),  # the demo's own pages: templates/
]

# Errors raised before any view (a Host not in ALLOWED_HOSTS, say): the API's
# envelope under /v1/, Django's own pages elsewhere.
handler400 = "threads_app.handlers.bad_request"
handler403 = "threads_app.handlers.permission_denied"
handler404 = "threads_app.handlers.page_not_found"
handler500 = "threads_app.handlers.server_error"

import os

from django.core.wsgi import get_wsgi_application

from threads_app.wsgi import ChunkedBodyMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

# Chunked request bodies read whole (gunicorn ends their stream), so that Django sees them.
application = ChunkedBodyMiddleware(get_wsgi_application())

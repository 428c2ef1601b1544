"""The production server: gunicorn with sync workers, one per core.

    gunicorn -c project/gunicorn.conf.py project.wsgi

Sync workers suit a sync Django app whose requests are short: each worker
answers one request at a time with no event loop or thread switching in the
way. On 2 cores, as many workers as cores did best; more workers gained
nothing and worsened p99, and threaded workers collapsed SQLite throughput
(see the benchmark in bench/). Put a buffering proxy (nginx) in front for
slow clients: a sync worker is held for the whole of a slow upload.
"""

import gc
import os

# PostgreSQL: one persistent connection per worker, not checked with a round trip
# of its own before each request (see project/database.py). psycopg's pool
# (DATABASE_POOL=1) costs about 100,000 more instructions a request than that,
# and the check one more round trip (bench/).
os.environ.setdefault("DATABASE_HEALTH_CHECKS", "0")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY", os.cpu_count() or 1))
worker_class = "sync"
timeout = 30
graceful_timeout = 10
# Access logs go through a proxy's logs in production; writing them here costs a
# syscall per request in the worker.
accesslog = os.environ.get("GUNICORN_ACCESSLOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOGLEVEL", "warning")


def post_worker_init(worker):
    """Leave what the worker loaded at start out of the garbage collector's full passes.

    Loading Django, DRF and the app leaves about 87,000 objects that every full
    collection walks again for nothing: about 30 ms each, one in some 2,000 API
    requests, so about 15 us a request, or 4% of an API request's instructions
    (60,000 of 1.4 million; bench/, callgrind). The floor, which allocates
    little, was not measurably affected.
    """
    gc.freeze()

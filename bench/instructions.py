"""Instructions per request, counted by valgrind: a figure the machine's noise does not move.

    DATABASE_URL=postgres://... python -m bench.instructions [floor floor-query list ...]

Each case runs in one process through Django's WSGI handler, configured by
project/gunicorn.conf.py as a gunicorn worker is (its environment, its
``post_worker_init``), under ``valgrind --tool=callgrind`` twice: with
a few requests and with ``--requests`` more. The difference, divided by
``--requests``, is one request's instructions without the start-up. Counted
in user space only: the kernel's share of a round trip to PostgreSQL does not
show. DATABASE_URL picks the database (the demo's SQLite file by default).

Before either count, a process of its own, not counted, migrates that database,
gives it a user, an API key and a thread of 50 messages of its own, and answers
each case: the two counts then start from the same state. When the first count
migrated and seeded, a fresh database charged its migrations to the larger
count, and so to the figure; a fresh checkout likewise charged the compiling of
every module to bytecode.
"""

import argparse
import io
import os
import re
import runpy
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ("floor", "floor-query", "list", "retrieve", "create")
WARM_UP = 100
BASELINE = 50


# The user the counts' thread and key belong to, and where the counts find the key's secret.
USERNAME = "bench-instructions"
SECRET_VARIABLE = "BENCH_INSTRUCTIONS_SECRET"


def configure() -> dict:
    """Configure this process as project/gunicorn.conf.py configures a worker; set Django up.

    Returns the configuration's namespace, whose ``post_worker_init`` the caller runs.
    """
    import django

    worker = runpy.run_path(str(ROOT / "project" / "gunicorn.conf.py"))  # before Django reads
    # A connection is reopened once it is CONN_MAX_AGE seconds old (60 by default).
    # Under valgrind a count runs for minutes, so the reopenings, which a worker pays
    # once a minute, would be charged to a few hundred requests: on SQLite they made
    # a retrieve count 3.9 M instead of 1.4 M.
    os.environ.setdefault("CONN_MAX_AGE", "86400")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    django.setup()
    return worker


def prepare() -> str:
    """Migrate the database and seed it (once); return the secret of a new API key."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from threads_app.models import APIKey, Message, Thread

    call_command("migrate", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username=USERNAME)
    if not Thread.objects.filter(owner=user).exists():
        thread = Thread.objects.create(owner=user)
        for i in range(50):
            Message.objects.create(thread=thread, role="user", content=[
                {"type": "text", "text": {"value": f"{i}: " + "lorem ipsum " * 12,
                                          "annotations": []}}])
    return APIKey.generate(user, name="instructions")[1]


def requester(case: str, secret: str) -> Callable[[], None]:
    """A function that answers one request of ``case`` through the WSGI handler, with
    the key of ``secret``, on the database :func:`prepare` made ready."""
    from django.core.handlers.wsgi import WSGIHandler

    from threads_app.models import Message, Thread

    thread = Thread.objects.filter(owner__username=USERNAME).first()
    if thread is None:
        raise RuntimeError("No thread to count with: run prepare() first.")
    middle = Message.objects.filter(thread=thread).order_by("seq")[25].public_id
    messages = f"/v1/threads/{thread.public_id}/messages"
    body = b'{"role": "user", "content": "' + b"lorem ipsum " * 12 + b'"}'
    method, path, query, data = {
        "floor": ("GET", "/bench/floor", "bytes=600", b""),
        "floor-query": ("GET", "/bench/floor-query", "bytes=600", b""),
        "list": ("GET", messages, "limit=20", b""),
        "retrieve": ("GET", f"{messages}/{middle}", "", b""),
        "create": ("POST", messages, "", body),
    }[case]
    handler = WSGIHandler()

    def start_response(status: str, headers: list) -> None:
        assert status.startswith("200"), status

    def one() -> None:
        environ = {
            "REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query,
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "8000", "HTTP_HOST": "127.0.0.1:8000",
            "wsgi.url_scheme": "http", "wsgi.input": io.BytesIO(data),
            "CONTENT_LENGTH": str(len(data)), "CONTENT_TYPE": "application/json",
            "HTTP_AUTHORIZATION": f"Bearer {secret}",
        }
        response = handler(environ, start_response)
        b"".join(response)
        response.close()

    return one


def prepare_and_warm_up(cases: list[str]) -> None:
    """Uncounted: make the database ready, answer each case, and print the key's secret."""
    configure()
    secret = prepare()
    for case in cases:
        one = requester(case, secret)
        for _ in range(WARM_UP):
            one()
    print(secret)


def serve(case: str, requests: int) -> None:
    worker = configure()
    one = requester(case, os.environ[SECRET_VARIABLE])
    worker["post_worker_init"](None)
    for _ in range(WARM_UP):
        one()
    for _ in range(requests):
        one()


def counted(case: str, requests: int, secret: str) -> int:
    """Instructions of a whole process that answers ``requests`` of ``case`` after warming up."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "callgrind.out"
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-m", "bench.instructions", "--serve", case, str(requests)],
            cwd=ROOT, check=True, capture_output=True,
            env={**os.environ, "PYTHONHASHSEED": "0", SECRET_VARIABLE: secret},
        )
        return int(re.search(r"^summary: (\d+)", out.read_text(), re.MULTILINE).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("cases", nargs="*", help=f"any of {', '.join(CASES)} (default: all)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--serve", nargs=2, metavar=("CASE", "N"), help=argparse.SUPPRESS)
    parser.add_argument("--prepare", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve[0], int(args.serve[1]))
        return
    if unknown := set(args.cases) - set(CASES):
        parser.error(f"unknown case: {', '.join(sorted(unknown))}")
    cases = args.cases or list(CASES)
    if args.prepare:
        prepare_and_warm_up(cases)
        return
    if shutil.which("valgrind") is None:
        sys.exit("valgrind is not installed: apt-get install valgrind")
    prepared = subprocess.run(
        [sys.executable, "-m", "bench.instructions", "--prepare", *cases],
        cwd=ROOT, check=True, capture_output=True, text=True,
    )
    secret = prepared.stdout.split()[-1]
    for case in cases:
        extra = (counted(case, BASELINE + args.requests, secret)
                 - counted(case, BASELINE, secret))
        print(f"{case:10} {extra / args.requests / 1e6:.3f} M instructions a request", flush=True)


if __name__ == "__main__":
    main()

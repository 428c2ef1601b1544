"""gunicorn as the demo site runs it, and raw HTTP to it: what a client's socket sees."""

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from .test_concurrency import no_control_socket

ROOT = Path(__file__).resolve().parent.parent


@contextmanager
def gunicorn(env: dict[str, str], workers: int = 1) -> Iterator[tuple[str, int]]:
    """Run ``gunicorn -c project/gunicorn.conf.py project.wsgi`` on a free port.

    Yields the host and port it listens on; its log is printed when it stops,
    which pytest shows if a test failed.
    """
    with tempfile.NamedTemporaryFile("w+", prefix="gunicorn-", suffix=".log") as log:
        server = subprocess.Popen(
            [
                sys.executable, "-m", "gunicorn", "-c", "project/gunicorn.conf.py",
                "project.wsgi", "--bind", "127.0.0.1:0", "--workers", str(workers),
                # The configuration logs warnings only; the address is logged at info.
                "--log-level", "info", *no_control_socket(),
            ],
            cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
        )
        try:
            yield listening_address(Path(log.name), server, workers)
        finally:
            server.send_signal(signal.SIGTERM)
            server.wait(timeout=30)
            print(Path(log.name).read_text()[-5000:])


def listening_address(log: Path, server: subprocess.Popen, workers: int) -> tuple[str, int]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        text = log.read_text()
        found = re.search(r"Listening at: http://([\d.]+):(\d+)", text)
        if found and text.count("Booting worker") >= workers:
            return found.group(1), int(found.group(2))
        if server.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError("gunicorn did not start:\n" + log.read_text())


def server_environment(**env: str) -> dict[str, str]:
    """This process's environment without the demo's switches, and ``env``."""
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")},
        **env,
    }


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # names in lower case
    body: bytes
    raw: bytes


def chunked(body: bytes, size: int) -> Iterator[bytes]:
    """``body`` in HTTP/1.1 chunks of ``size`` bytes, with the closing chunk."""
    for start in range(0, len(body), size):
        piece = body[start:start + size]
        yield b"%x\r\n%s\r\n" % (len(piece), piece)
    yield b"0\r\n\r\n"


def exchange(address: tuple[str, int], head: bytes, body: Iterable[bytes] = ()) -> Answer:
    """Send a request (head, then body pieces) and read the answer until the server closes.

    The body is sent from another thread while the answer is read, so that an
    answer given before the whole body was read (413, say) is still seen.
    """
    with socket.create_connection(address, timeout=30) as sock:

        def send() -> None:
            try:
                sock.sendall(head)
                for piece in body:
                    sock.sendall(piece)
            except OSError:
                pass  # the server answered and closed before reading it all

        sender = threading.Thread(target=send)
        sender.start()
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except ConnectionResetError:
            pass  # a reset after the answer, for a body left unread
        sender.join()
    return parse_answer(received)


def parse_answer(raw: bytes) -> Answer:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding") == "chunked":
        body = dechunk(body)
    return Answer(int(status_line.split()[1]), headers, body, raw)


def dechunk(data: bytes) -> bytes:
    body = b""
    while True:
        size_line, _, data = data.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            return body
        body, data = body + data[:size], data[size + 2:]

from datetime import UTC, datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from threads_app import store
from threads_app.transfer import (
    PlainStream,
    Progress,
    add_progress_arguments,
    export_threads,
    unstyled,
)


def moment(text: str) -> datetime:
    """An ISO 8601 date or date and time; without a zone, UTC."""
    parsed = parse_datetime(text)
    if parsed is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{text!r} is not an ISO 8601 date or date and time.")
        parsed = datetime(day.year, day.month, day.day)
    return parsed if timezone.is_aware(parsed) else parsed.replace(tzinfo=UTC)


class Command(BaseCommand):
    help = (
        "Write threads and their items as JSON Lines in the API's object shapes: each "
        "thread (with its owner's username), then its messages and other conversation "
        "items in order. Filters "
        "combine; without any, every thread is written."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output", "-o", default="-", help="File to write; '-' (the default) is stdout."
        )
        parser.add_argument(
            "--owner",
            action="append",
            default=[],
            metavar="USERNAME",
            help="Only threads of this user (repeatable).",
        )
        parser.add_argument(
            "--thread",
            action="append",
            default=[],
            metavar="ID",
            help="Only this thread (repeatable).",
        )
        parser.add_argument(
            "--since", type=moment, help="Only threads created at or after this date (UTC)."
        )
        parser.add_argument(
            "--until", type=moment, help="Only threads created before this date (UTC)."
        )
        add_progress_arguments(parser)
        parser.add_argument(
            "--database",
            help="Database alias to read from (a replica, say); default: as the routers decide.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        # Each thread's messages follow it: related queries go where their thread came from.
        threads = store.transfer.select_threads(
            options["owner"], options["thread"], options["since"], options["until"],
            using=options["database"] or None,
        )
        show = options["progress"]
        if show is None:
            show = self.stderr.isatty()
        progress = Progress(
            PlainStream(self.stderr), threads.count() if show else None, enabled=show
        )
        if options["output"] == "-":
            # Bytes straight to stdout; a stdout without a buffer (a StringIO) gets text.
            buffer = getattr(self.stdout, "buffer", None)
            if buffer is not None:
                counts = export_threads(threads, buffer.write, progress)
                buffer.flush()
            else:
                counts = export_threads(
                    threads, lambda data: self.stdout.write(data.decode(), ending=""), progress
                )
        else:
            with open(options["output"], "wb") as out:
                counts = export_threads(threads, out.write, progress)
        # On stderr, since stdout may carry the export; styled only where Django would
        # style stderr at all (a terminal), and as a success, not as an error.
        style = self.style.SUCCESS if self.stderr.isatty() else unstyled
        self.stderr.write(f"Exported {counts}.", style_func=style)

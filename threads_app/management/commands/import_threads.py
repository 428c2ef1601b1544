import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from threads_app import store, validation
from threads_app.ids import CONVERSATION_PREFIX, THREAD_PREFIX, id_start, thread_id
from threads_app.transfer import (
    ImportCounts,
    PlainStream,
    Problem,
    Progress,
    add_progress_arguments,
    import_lines,
)


class Command(BaseCommand):
    help = (
        "Import threads, messages and conversation items from JSON Lines written by "
        "export_threads, or from the openai SDK's model_dump() of threads, messages, "
        "conversation items and list pages. IDs and timestamps "
        "are kept; whatever is already present (same ID) is skipped, so a second run adds "
        "nothing. Bad records are reported with their line and skipped; the command then "
        "exits with status 1."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", metavar="FILE", help="'-' reads stdin.")
        parser.add_argument(
            "--owner",
            metavar="USERNAME",
            help="Owner of every thread imported, whatever the records say; needed for "
            "records without an owner (the SDK's) and for messages whose thread is "
            "not in the input, whose thread is then created.",
        )
        parser.add_argument(
            "--thread",
            metavar="ID",
            help=f"Thread ({id_start(THREAD_PREFIX)}… or {id_start(CONVERSATION_PREFIX)}…) of "
            "the conversation items that name none, "
            "as the SDK gives them; with --owner, created if it does not exist.",
        )
        parser.add_argument(
            "--list-order",
            choices=["asc", "desc"],
            default="desc",
            help="Order of a list page whose messages all share one second (other pages "
            "show theirs); default desc, the SDK's default.",
        )
        add_progress_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        owner = None
        if options["owner"] is not None:
            owner = store.transfer.user_named(options["owner"])
            if owner is None:
                raise CommandError(f"No user {options['owner']!r}.")
        thread = None
        if options["thread"] is not None:
            thread = options["thread"]
            if thread.startswith(id_start(CONVERSATION_PREFIX)):
                thread = thread_id(thread)
            try:
                validation.clean_object_id(thread, THREAD_PREFIX, "--thread")
            except validation.ValidationError as error:
                raise CommandError(error.message) from None
        show = options["progress"]
        if show is None:
            show = self.stderr.isatty()
        problems = 0
        for name in options["files"]:
            counts = self.import_file(name, owner, options["list_order"], show, thread)
            problems += len(counts.problems)
            # Each of its problems is already on stderr, in the error style.
            style = self.style.WARNING if counts.problems else self.style.SUCCESS
            self.stdout.write(
                f"{name}: imported {counts.created()}; {counts.present()} were already present.",
                style_func=style,
            )
        if problems:
            raise CommandError(f"{problems} records were not imported; see above.")

    def import_file(
        self, name: str, owner: Any, list_order: str, show: bool, thread: str | None
    ) -> ImportCounts:
        progress = Progress(PlainStream(self.stderr), None, enabled=show)

        def report(problem: Problem) -> None:
            progress.clear()  # the problem takes the bar's line; the bar follows it
            self.stderr.write(f"{name}: {problem}")

        if name == "-":
            return import_lines(sys.stdin.buffer, owner, list_order, report, progress, thread)
        try:
            lines = open(name, "rb")  # closed by the `with` below
        except OSError as error:
            raise CommandError(f"Cannot read {name}: {error.strerror}") from None
        with lines:
            progress.total = os.fstat(lines.fileno()).st_size
            return import_lines(lines, owner, list_order, report, progress, thread)

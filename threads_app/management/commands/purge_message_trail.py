from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from threads_app import trail


class Command(BaseCommand):
    help = (
        "Take out of the admin's log what it keeps of messages: the text, attachments and "
        "metadata an edit replaced, and deleted messages. Who did what, and when, stays. "
        "Choose the entries by age, by thread, or all of them."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--older-than", type=int, metavar="DAYS",
            help="Only entries written more than DAYS days ago.",
        )
        parser.add_argument(
            "--thread", action="append", default=[], metavar="ID",
            help="Only entries about messages of this thread (repeatable).",
        )
        parser.add_argument(
            "--all", action="store_true", help="Every entry that keeps something of a message.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count the entries; change nothing.",
        )

    def handle(self, *args, **options):
        days, threads = options["older_than"], options["thread"]
        if days is None and not threads and not options["all"]:
            raise CommandError("Say which entries: --older-than DAYS, --thread ID, or --all.")
        if days is not None and days < 0:
            raise CommandError("--older-than takes a number of days, 0 or more.")
        entries = trail.message_entries()
        if threads:
            entries = trail.for_threads(entries, threads)
        before = None if days is None else timezone.now() - timedelta(days=days)
        if options["dry_run"]:
            if before is not None:
                entries = entries.filter(action_time__lt=before)
            self.stdout.write(f"{entries.count()} log entries keep something of a message.")
            return
        purged = trail.purge(entries, before)
        self.stdout.write(
            self.style.SUCCESS(f"Purged what {purged} log entries kept of messages.")
        )

from django.core.management.base import BaseCommand, CommandError

from threads_app.conf import app_settings
from threads_app.store import tombstones


class Command(BaseCommand):
    help = (
        "Delete the tombstones of threads and messages deleted longer ago than "
        "THREADS_APP['TOMBSTONE_RETENTION'] (30 days by default): what let a cursor naming "
        "them keep working. Such a cursor is refused either way; this frees the rows. Run "
        "it from cron, daily."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=tombstones.PURGE_BATCH, metavar="N",
            help=f"Tombstones deleted per statement (default {tombstones.PURGE_BATCH}).",
        )

    def handle(self, *args, **options):
        if options["batch_size"] < 1:
            raise CommandError("--batch-size takes a number of tombstones, 1 or more.")
        if app_settings.TOMBSTONE_RETENTION is None:
            self.stdout.write("TOMBSTONE_RETENTION is None: tombstones are kept for ever.")
            return
        deleted = tombstones.purge(options["batch_size"])
        self.stdout.write(
            f"Deleted {deleted} tombstones older than {tombstones.retention_text()}."
        )

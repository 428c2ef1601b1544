from django.core.management.base import BaseCommand

from threads_app.idempotency import IdempotencyPolicy


class Command(BaseCommand):
    help = (
        "Delete stored Idempotency-Key answers older than THREADS_APP['IDEMPOTENCY_KEY_RETENTION'] "
        "(24 hours by default). Run it from cron, hourly or daily."
    )

    def handle(self, *args, **options):
        deleted = IdempotencyPolicy().purge()
        self.stdout.write(f"Deleted {deleted} expired idempotency keys.")

from django.core.management.base import BaseCommand

from threads_app import store


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME (creating the user if missing). "
        "The key is printed alone on the last line; it is not stored and cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, username: str, name: str, **options):
        api_key, secret, created = store.keys.create_key(username, name)
        if created:
            self.stderr.write(f"Created user {username!r}.")
        self.stderr.write(f"Created API key {api_key.prefix}… for {username!r}:")
        self.stdout.write(secret)

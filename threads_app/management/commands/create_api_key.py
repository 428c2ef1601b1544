from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from threads_app.models import APIKey


class Command(BaseCommand):
    help = (
        "Create an API key for USERNAME (creating the user if missing). "
        "The key is printed alone on the last line; it is not stored and cannot be shown again."
    )

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", default="", help="A label for the key.")

    def handle(self, *args, username: str, name: str, **options):
        User = get_user_model()
        with transaction.atomic():
            user, created = User._default_manager.get_or_create(
                **{User.USERNAME_FIELD: username}
            )
            if created:
                user.set_unusable_password()
                user.save()
            api_key, secret = APIKey.generate(user, name=name)
        if created:
            self.stderr.write(f"Created user {username!r}.")
        self.stderr.write(f"Created API key {api_key.prefix}… for {username!r}:")
        self.stdout.write(secret)

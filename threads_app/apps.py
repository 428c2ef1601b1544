from django.apps import AppConfig
from django.core import checks


class ThreadsAppConfig(AppConfig):
    name = "threads_app"
    verbose_name = "Threads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .checks import ALL_CHECKS

        # Tagged with our label, so that `manage.py check --tag threads_app` runs them alone.
        for check in ALL_CHECKS:
            checks.register(check, self.label)

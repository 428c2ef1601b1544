from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created


class ThreadsAppConfig(AppConfig):
    name = "threads_app"
    verbose_name = "Threads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .checks import ALL_CHECKS
        from .store import register_sqlite_clock

        # Before any connection opens, so that every SQLite connection has the clock.
        connection_created.connect(register_sqlite_clock, dispatch_uid="threads_app_sqlite_clock")

        # Tagged with our label, so that `manage.py check --tag threads_app` runs them alone.
        for check in ALL_CHECKS:
            checks.register(check, self.label)

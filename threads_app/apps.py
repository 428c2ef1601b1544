from django.apps import AppConfig
from django.core import checks
from django.db.backends.signals import connection_created


class ThreadsAppConfig(AppConfig):
    name = "threads_app"
    verbose_name = "Threads"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from .checks import ALL_CHECKS
        from .store.database import probe_citus, register_sqlite_clock

        # Before any connection opens, so that every SQLite connection has the clock, and
        # the first connection to each PostgreSQL database says whether it has Citus.
        connection_created.connect(register_sqlite_clock, dispatch_uid="threads_app_sqlite_clock")
        connection_created.connect(probe_citus, dispatch_uid="threads_app_citus_probe")

        # Tagged with our label, so that `manage.py check --tag threads_app` runs them alone.
        for check in ALL_CHECKS:
            checks.register(check, self.label)

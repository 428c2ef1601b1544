"""A database backend that says it is MySQL and never connects: what the system check sees
of a MySQL database, without a server or a driver (tests/test_checks.py)."""

from django.db.backends.dummy.base import DatabaseWrapper as DummyDatabaseWrapper


class DatabaseWrapper(DummyDatabaseWrapper):
    vendor = "mysql"

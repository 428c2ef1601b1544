"""On PostgreSQL, trigram indexes for the admin's search of message text.

The admin finds threads and messages by words in their text with ``icontains``,
which Django's PostgreSQL backend writes as ``UPPER(column::text) LIKE UPPER(…)``.
Unindexed, a word that few messages hold reads every message: 1.5 to 3 s for
a million here (bench/admin.py). These GIN indexes of the trigrams of
``UPPER(content)`` and ``UPPER(item)`` (the very expressions compared; the cast
of text to text is dropped by the parser) answer such a word from the index in
milliseconds; for a common word the planner keeps stopping at each thread's
first match instead.

They need the ``pg_trgm`` extension, which is trusted since PostgreSQL 13: the
database's owner may create it. Built here, they lock the table against writes
while they are built: a table already holding millions of messages should have
them built first with ``CREATE INDEX CONCURRENTLY`` (docs/deployment.md), which
this migration then finds and leaves alone. On other databases it does nothing:
docs/deployment.md says what the search costs on SQLite.
"""

from django.db import migrations

# (index, column) pairs.
INDEXES = [
    ("threads_app_message_text_trgm", "content"),
    ("threads_app_message_item_trgm", "item"),
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = schema_editor.quote_name(apps.get_model("threads_app", "message")._meta.db_table)
    schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    for name, column in INDEXES:
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {schema_editor.quote_name(name)} ON {table} "
            f"USING gin (UPPER({schema_editor.quote_name(column)}) gin_trgm_ops)"
        )
    # The planner knows how often a word occurs only from statistics of the indexed
    # expressions, gathered by ANALYZE: without them it guessed 320 messages for a
    # word in 500,000, and took 2.5 s where it takes 23 ms (bench/admin.py).
    schema_editor.execute(f"ANALYZE {table}")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    # The extension stays: something else in the database may use it.
    for name, _ in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


class Migration(migrations.Migration):
    dependencies = [
        ("threads_app", "0006_threads_view_index"),
    ]

    operations = [migrations.RunPython(create, drop)]

"""Read a page of messages in index order, whatever PostgreSQL's statistics.

On a table never analyzed (a fresh database, autovacuum off) the planner
guessed that a thread holds a few rows, and fetched the whole thread through
the ``(thread, run_id, seq)`` index, or a bitmap of ``(thread, seq)``, to
sort it: 20 ms for a page of a 5,855-message thread, against 0.8 ms once
``ANALYZE`` had run. The Threads view now has its own index, ``(thread, seq)``
over the rows it shows, which its queries name in full; and the run index
holds only rows with a run, so that an unfiltered page cannot use it (the
rows created through the API have none, which also spares that index a write
per message). ``(thread, seq)`` over every row stays, for the Conversations
view.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("threads_app", "0005_item_ids_unique_per_thread"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="message",
            name="threads_app_message_run",
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("role__in", ("user", "assistant")), ("type", "message")),
                fields=["thread", "seq"],
                name="threads_app_message_view",
            ),
        ),
        migrations.AddIndex(
            model_name="message",
            index=models.Index(
                condition=models.Q(("run_id__isnull", False)),
                fields=["thread", "run_id", "seq"],
                name="threads_app_message_run",
            ),
        ),
    ]

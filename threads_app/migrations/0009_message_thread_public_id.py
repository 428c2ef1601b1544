"""Name a message's thread by the thread's public ID instead of its seq.

The ID in a request's URL then finds a thread's messages and items without a
lookup, and on a Citus cluster it finds their shard: messages are distributed
by this column, beside the thread distributed by its public ID.

The column changes type in place, so its values first read as the old seq in
text; one UPDATE then puts each thread's public ID in their place. The foreign
key is left off while the column holds neither, and put back at the end, when
the database checks every row against it. The migration is atomic, so a
failure (a message whose thread is gone, say) leaves the schema and the rows as
they were. It runs backwards too, from public IDs to seqs.
"""

import django.db.models.deletion
from django.db import migrations, models

MESSAGES = "threads_app_message"
THREADS = "threads_app_thread"

TO_PUBLIC_ID = f"""
UPDATE {MESSAGES} SET thread_id = (
    SELECT thread.public_id FROM {THREADS} thread
    WHERE thread.seq = CAST({MESSAGES}.thread_id AS BIGINT)
)
"""

TO_SEQ = f"""
UPDATE {MESSAGES} SET thread_id = (
    SELECT CAST(thread.seq AS TEXT) FROM {THREADS} thread
    WHERE thread.public_id = {MESSAGES}.thread_id
)
"""


def thread_key(**options):
    return models.ForeignKey(
        on_delete=django.db.models.deletion.CASCADE,
        related_name="messages",
        to="threads_app.thread",
        db_index=False,
        **options,
    )


class Migration(migrations.Migration):
    atomic = True

    dependencies = [
        ("threads_app", "0008_tombstone_deleted_at"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message", name="thread", field=thread_key(db_constraint=False)
        ),
        migrations.AlterField(
            model_name="message",
            name="thread",
            field=thread_key(db_constraint=False, to_field="public_id"),
        ),
        migrations.RunSQL(TO_PUBLIC_ID, reverse_sql=TO_SEQ),
        migrations.AlterField(
            model_name="message", name="thread", field=thread_key(to_field="public_id")
        ),
    ]

"""Make an item's ID unique within its thread, and a tombstone's within its container.

A client may give the ID of a new conversation item. While IDs were unique
across the table, refusing one that another owner held told the caller it
existed; unique per thread, the answer depends on that conversation alone.
Tombstones keep the ID of what was deleted, so they follow: a new integer key,
unique by (container, ID). The new unique index on messages is led by the ID,
so a lookup by ID alone (the admin's search) stays a probe.

Going back needs the IDs to be unique across the table again.
"""

from django.db import migrations, models

import threads_app.ids


class Migration(migrations.Migration):
    dependencies = [
        ("threads_app", "0004_drop_pattern_indexes"),
    ]

    operations = [
        migrations.AlterField(
            model_name="message",
            name="public_id",
            field=models.CharField(
                default=threads_app.ids.new_message_id,
                editable=False,
                max_length=64,
                verbose_name="ID",
            ),
        ),
        migrations.AddConstraint(
            model_name="message",
            constraint=models.UniqueConstraint(
                fields=("public_id", "thread"), name="threads_app_message_id"
            ),
        ),
        # The ID stops being the key before the new key is added: a table has one.
        migrations.AlterField(
            model_name="tombstone",
            name="public_id",
            field=models.CharField(max_length=64),
        ),
        migrations.AddField(
            model_name="tombstone",
            name="id",
            field=models.BigAutoField(primary_key=True, serialize=False),
        ),
        # The unique index below is led by the container, which serves its lookups too.
        migrations.RemoveIndex(
            model_name="tombstone",
            name="threads_app_tombstone_box",
        ),
        migrations.AddConstraint(
            model_name="tombstone",
            constraint=models.UniqueConstraint(
                fields=("container", "public_id"), name="threads_app_tombstone_id"
            ),
        ),
    ]

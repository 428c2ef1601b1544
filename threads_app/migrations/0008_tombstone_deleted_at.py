"""Give tombstones the time of their deletion, so that they can expire.

A tombstone marks where a deleted thread or message stood for
``TOMBSTONE_RETENTION`` after that time; ``purge_tombstones`` then deletes it,
finding the oldest through the new index. The rows already there did not
record their deletion: they all get the time this migration runs (Django
computes the default once for the rows of the table), so they are kept a whole
retention from now.
"""

import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("threads_app", "0007_message_text_search"),
    ]

    operations = [
        migrations.AddField(
            model_name="tombstone",
            name="deleted_at",
            field=models.DateTimeField(default=django.utils.timezone.now, editable=False),
        ),
        migrations.AddIndex(
            model_name="tombstone",
            index=models.Index(fields=["deleted_at"], name="threads_app_tombstone_deleted"),
        ),
    ]

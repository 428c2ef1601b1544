"""Drop the pattern indexes Django adds on PostgreSQL beside unique text columns.

For each unique ``CharField`` Django's PostgreSQL backend also builds a
``varchar_pattern_ops`` index, which serves only ``LIKE 'prefix%'``. The app
looks these columns up by equality alone (the admin's search included), which
the unique index answers, so the second index was only kept up on every insert:
about 15-20 us of PostgreSQL's CPU of an insert of a message, and on a table of
a million messages a second 74 MB index into which random IDs write at random
places (bench/). Other databases have no such index; there this does nothing.
"""

from django.db import migrations

# (model, field) pairs whose pattern index goes.
UNIQUE_TEXT = [
    ("message", "public_id"),
    ("thread", "public_id"),
    ("tombstone", "public_id"),
    ("apikey", "key_hash"),
]


def pattern_indexes(apps, schema_editor):
    """Each field's model and pattern index, named as Django's backend names it."""
    for model_name, field_name in UNIQUE_TEXT:
        model = apps.get_model("threads_app", model_name)
        field = model._meta.get_field(field_name)
        name = schema_editor._create_index_name(model._meta.db_table, [field.column], "_like")
        yield model, field, name


def drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for _, _, name in pattern_indexes(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {schema_editor.quote_name(name)}")


def create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    for model, field, _ in pattern_indexes(apps, schema_editor):
        schema_editor.execute(schema_editor._create_like_index_sql(model, field))


class Migration(migrations.Migration):
    dependencies = [
        ("threads_app", "0003_conversation_items"),
    ]

    operations = [migrations.RunPython(drop, create)]

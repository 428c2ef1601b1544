"""A model field that keeps JSON as the exact text it was written as."""

from typing import Any

import orjson
from django import forms
from django.db import models


class JSONTextField(models.TextField):
    """JSON stored as text, the same on every database.

    Django's ``JSONField`` is ``jsonb`` on PostgreSQL, which reorders object keys
    and drops duplicates; we promise to return content and metadata as they were
    given, so we keep the text. Pattern lookups (``icontains``) still work on it,
    which is all the admin's search needs.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else orjson.loads(value)

    def to_python(self, value: Any) -> Any:
        if isinstance(value, str):
            return orjson.loads(value)
        return value

    def get_prep_value(self, value: Any) -> str | None:
        return None if value is None else orjson.dumps(value).decode()

    def value_to_string(self, obj: models.Model) -> str:
        return self.get_prep_value(self.value_from_object(obj)) or "null"

    def formfield(self, **kwargs: Any) -> forms.Field:
        return super().formfield(**{"form_class": forms.JSONField, **kwargs})

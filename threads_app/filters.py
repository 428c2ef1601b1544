"""Filters of the list endpoints, as django-filter FilterSets.

A FilterSet here validates its query parameters; the store runs the query
(``store.message_page(..., run_id=...)``), so each filter's name is the
keyword of the store's page that applies it.
"""

from typing import Any

import django_filters
from django_filters.constants import EMPTY_VALUES
from django_filters.rest_framework import DjangoFilterBackend

from .exceptions import BadRequest
from .models import Message


class MessageFilter(django_filters.FilterSet):
    run_id = django_filters.CharFilter(field_name="run_id")

    class Meta:
        model = Message
        fields = ["run_id"]


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, answering a bad filter value with our envelope."""

    def get_filter_values(self, request, view) -> dict[str, Any]:
        """The values of the view's filters the query gives, validated; empty ones left out
        (as django-filter leaves them unfiltered)."""
        filterset_class = self.get_filterset_class(view)
        query = request.query_params
        names = filterset_class.base_filters if filterset_class else ()
        if not any(name in query for name in names):
            return {}  # as most lists are: no FilterSet to build
        filterset = filterset_class(data=query, request=request)
        if not filterset.is_valid():
            param, errors = next(iter(filterset.errors.items()))
            raise BadRequest(f"Invalid '{param}': {' '.join(errors)}", param, "invalid_value")
        return {name: value for name, value in filterset.form.cleaned_data.items()
                if value not in EMPTY_VALUES}

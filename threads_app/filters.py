"""Filters of the list endpoints, as django-filter FilterSets."""

import django_filters
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

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            param, errors = next(iter(filterset.errors.items()))
            raise BadRequest(f"Invalid '{param}': {' '.join(errors)}", param, "invalid_value")
        return filterset.qs

"""FilterSets shared by the API and the steward UI."""

from __future__ import annotations

from django.db.models import Q, QuerySet
from django_filters import rest_framework as filters

from golden import normalize
from golden.models import GoldenRecord


class GoldenRecordFilter(filters.FilterSet):
    q = filters.CharFilter(method="filter_q", label="Name or canonical ID contains")
    country = filters.CharFilter(method="filter_country", label="Country (ISO code or name)")
    tax_id = filters.CharFilter(method="filter_tax_id", label="Tax ID (any formatting)")
    system = filters.CharFilter(method="filter_noop", label="System code, with source_id")
    source_id = filters.CharFilter(method="filter_source_id", label="ID in `system`")
    updated_since = filters.IsoDateTimeFilter(field_name="updated_at", lookup_expr="gte")
    status = filters.ChoiceFilter(choices=GoldenRecord.Status.choices)

    class Meta:
        model = GoldenRecord
        fields = ["q", "country", "tax_id", "system", "source_id", "updated_since", "status"]

    def filter_q(
        self, queryset: QuerySet[GoldenRecord], name: str, value: str
    ) -> QuerySet[GoldenRecord]:
        return queryset.filter(Q(name__icontains=value) | Q(canonical_id__iexact=value))

    def filter_country(
        self, queryset: QuerySet[GoldenRecord], name: str, value: str
    ) -> QuerySet[GoldenRecord]:
        return queryset.filter(country=normalize.normalize_country(value) or value.upper())

    def filter_tax_id(
        self, queryset: QuerySet[GoldenRecord], name: str, value: str
    ) -> QuerySet[GoldenRecord]:
        tax = normalize.normalize_tax_id(value, None)
        return queryset.filter(tax_id__iexact=tax.value if tax else value)

    def filter_noop(
        self, queryset: QuerySet[GoldenRecord], name: str, value: str
    ) -> QuerySet[GoldenRecord]:
        return queryset

    def filter_source_id(
        self, queryset: QuerySet[GoldenRecord], name: str, value: str
    ) -> QuerySet[GoldenRecord]:
        system = self.data.get("system")
        by_source = Q(source_records__source_id=value)
        by_target = Q(external_references__external_id=value)
        if system:
            by_source &= Q(source_records__system__code=system)
            by_target &= Q(external_references__system__code=system)
        return queryset.filter(by_source | by_target).distinct()

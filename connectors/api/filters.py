from __future__ import annotations

import django_filters

from connectors.models import OutboundMessage


class OutboundMessageFilter(django_filters.FilterSet):
    target = django_filters.CharFilter(field_name="target__code")
    canonical_id = django_filters.CharFilter(lookup_expr="iexact")

    class Meta:
        model = OutboundMessage
        fields = ["status", "target", "entity_type", "operation", "canonical_id"]

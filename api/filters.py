"""Filters of the order and fill lists. Related ids are plain numbers: an id of another
organization simply matches nothing (a choice filter would reveal that it exists)."""

from __future__ import annotations

import django_filters
from django_filters.rest_framework import DjangoFilterBackend

from bots.models import Fill, Order, OrderSide, OrderStatus


class QueryFilterBackend(DjangoFilterBackend):
    """Filters only when the request names a filter: building and validating the filter form costs
    more than an unfiltered page of a large table."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = getattr(view, "filterset_class", None)
        if filterset_class is not None and not any(
            name in request.query_params for name in filterset_class.base_filters
        ):
            return queryset
        return super().filter_queryset(request, queryset, view)


class OrderFilter(django_filters.FilterSet):
    bot = django_filters.NumberFilter(field_name="bot_id")
    exchange_account = django_filters.NumberFilter(field_name="exchange_account_id")
    symbol = django_filters.CharFilter()
    status = django_filters.MultipleChoiceFilter(choices=OrderStatus.choices)
    side = django_filters.ChoiceFilter(choices=OrderSide.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Order
        fields = ["bot", "exchange_account", "symbol", "status", "side", "created_after", "created_before"]


class FillFilter(django_filters.FilterSet):
    bot = django_filters.NumberFilter(field_name="bot_id")
    order = django_filters.NumberFilter(field_name="order_id")
    exchange_account = django_filters.NumberFilter(field_name="exchange_account_id")
    symbol = django_filters.CharFilter()
    side = django_filters.ChoiceFilter(choices=OrderSide.choices)
    created_after = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="ts", lookup_expr="lt")

    class Meta:
        model = Fill
        fields = ["bot", "order", "exchange_account", "symbol", "side", "created_after", "created_before"]

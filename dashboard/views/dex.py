"""DEX (read-only): the organization's Gateway connections with their last check, its wallets
(public addresses) and swaps, a filtered list of the swaps and a swap's page. A connection's
certificate key is never read here: each query defers it, so no template can show it."""

from __future__ import annotations

from decimal import Decimal

from django.core.paginator import Paginator
from django.db.models import Count, F, Q, QuerySet, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from dashboard.views.base import OrgContext, member_view, render_page
from dex.models import (
    DexAccount,
    DexSwap,
    DexWallet,
    GatewayConnection,
    Sniper,
    SnipeStatus,
    SnipeToken,
    SwapSide,
    SwapStatus,
)

PAGE_ROWS = 50
LATEST_SWAPS = 10
SOLSCAN_TX = "https://solscan.io/tx/"
# A connection's PEM material: the pages show none of it, so it is never loaded.
CONNECTION_PEM = ("client_key", "client_cert", "ca_cert")


def _swaps(org: OrgContext) -> QuerySet[DexSwap]:
    return (
        DexSwap.objects.for_organization(org.organization)
        .select_related("wallet")
        .defer("balances_before")
        .order_by("-created_at", "-id")
    )


@require_GET
@member_view()
def dex(request: HttpRequest, org: OrgContext) -> HttpResponse:
    connections = GatewayConnection.objects.for_organization(org.organization).defer(*CONNECTION_PEM).order_by("name")
    wallets = (
        DexWallet.objects.for_organization(org.organization)
        .select_related("connection")
        .defer(*(f"connection__{name}" for name in CONNECTION_PEM))
        .annotate(swap_count=Count("swaps"))
        .order_by("connection__name", "label", "address")
    )
    accounts = (
        DexAccount.objects.for_organization(org.organization)
        .select_related("account", "connection", "wallet")
        .defer(*(f"connection__{name}" for name in CONNECTION_PEM))
        .order_by("account__label")
    )
    snipers = (
        Sniper.objects.for_organization(org.organization)
        .select_related("account__account")
        .annotate(
            held=Count(
                "tokens", filter=Q(tokens__status__in=(SnipeStatus.OPEN, SnipeStatus.BUYING, SnipeStatus.SELLING))
            ),
            closed=Count("tokens", filter=Q(tokens__status=SnipeStatus.CLOSED)),
            refused=Count("tokens", filter=Q(tokens__status=SnipeStatus.REJECTED)),
        )
        .order_by("name")
    )
    return render_page(
        request,
        org,
        "dashboard/dex.html",
        {
            "connections": connections,
            "dex_accounts": accounts,
            "snipers": snipers,
            "wallets": wallets,
            "swaps": _swaps(org)[:LATEST_SWAPS],
            "latest_swaps": LATEST_SWAPS,
            "solscan_tx": SOLSCAN_TX,
            "active": "dex",
        },
    )


@require_GET
@member_view()
def dex_swaps(request: HttpRequest, org: OrgContext) -> HttpResponse:
    wallets = list(
        DexWallet.objects.for_organization(org.organization)
        .order_by("label", "address")
        .only("id", "label", "address", "chain")
    )
    rows = _swaps(org)
    filters = {k: request.GET.get(k, "").strip() for k in ("status", "side", "wallet")}
    if filters["status"] in SwapStatus.values:
        rows = rows.filter(status=filters["status"])
    if filters["side"] in SwapSide.values:
        rows = rows.filter(side=filters["side"])
    if filters["wallet"].isdigit():
        rows = rows.filter(wallet_id=int(filters["wallet"]))
    page = Paginator(rows, PAGE_ROWS).get_page(request.GET.get("page"))
    query = "&".join(f"{k}={v}" for k, v in filters.items() if v)
    return render_page(
        request,
        org,
        "dashboard/dex_swaps.html",
        {
            "page": page,
            "wallets": wallets,
            "filters": filters,
            "query": query,
            "statuses": SwapStatus.choices,
            "sides": SwapSide.choices,
            "solscan_tx": SOLSCAN_TX,
            "active": "dex",
        },
    )


@require_GET
@member_view()
def dex_swap_detail(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    swaps = (
        DexSwap.objects.for_organization(org.organization)
        .select_related("wallet__connection")
        .defer(*(f"wallet__connection__{name}" for name in CONNECTION_PEM))
    )
    swap = get_object_or_404(swaps, pk=pk)
    return render_page(
        request, org, "dashboard/dex_swap_detail.html", {"swap": swap, "solscan_tx": SOLSCAN_TX, "active": "dex"}
    )


@require_GET
@member_view()
def dex_sniper(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    """A sniper's rules and every token it saw: refused and why, held, sold with the outcome."""
    sniper = get_object_or_404(
        Sniper.objects.for_organization(org.organization).select_related("account__account"), pk=pk
    )
    rows = (
        SnipeToken.objects.for_organization(org.organization)
        .filter(sniper=sniper)
        .select_related("buy_swap", "sell_swap")
    )
    status = request.GET.get("status", "").strip()
    if status in SnipeStatus.values:
        rows = rows.filter(status=status)
    page = Paginator(rows.order_by("-seen_at", "-id"), PAGE_ROWS).get_page(request.GET.get("page"))
    # A sale's outcome is its proceeds less its cost (SnipeToken.pnl_quote); one without both is not counted.
    sold = SnipeToken.objects.filter(sniper=sniper, status=SnipeStatus.CLOSED).aggregate(
        realized=Sum(F("proceeds_quote") - F("cost_quote")), count=Count("id")
    )
    return render_page(
        request,
        org,
        "dashboard/dex_sniper.html",
        {
            "sniper": sniper,
            "page": page,
            "status": status,
            "query": f"status={status}" if status else "",
            "statuses": SnipeStatus.choices,
            "realized": sold["realized"] or Decimal(0),
            "closed_count": sold["count"],
            "solscan_tx": SOLSCAN_TX,
            "active": "dex",
        },
    )

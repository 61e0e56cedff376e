"""Exchange accounts: list with masked credentials, add, verify."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, PermissionDeniedError
from dashboard.forms import ExchangeAccountForm
from dashboard.views.base import SOURCE, OrgContext, form_error, member_view, render_page
from exchanges.models import ExchangeAccount, ExchangeAccountStatus
from exchanges.services import exchange_account_create, exchange_account_verify
from organizations.models import Role

# Offered in the exchange input (any ccxt id is accepted).
EXCHANGE_IDS = ("paper", "binance", "binanceusdm", "bybit", "okx", "hyperliquid", "kraken", "coinbase")


@require_http_methods(["GET", "POST"])
@member_view()
def accounts(request: HttpRequest, org: OrgContext) -> HttpResponse:
    form = ExchangeAccountForm(organization=org.organization, exchange=request.GET.get("exchange"))
    status = 200
    if request.method == "POST":
        if not org.allows(Role.ADMIN):
            raise PermissionDenied("Adding an exchange account needs the admin role or higher.")
        form = ExchangeAccountForm(request.POST, organization=org.organization)
        if form.is_valid():
            try:
                account = exchange_account_create(
                    organization=org.organization, data=form.cleaned_data, user=request.user, source=SOURCE
                )
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
            else:
                messages.success(request, f"Exchange account {account.label} added. Verify it next.")
                return redirect("dashboard:accounts")
        status = 400
    rows = (
        ExchangeAccount.objects.for_user(request.user)
        .for_organization(org.organization)
        .annotate(bot_count=Count("bots"))
        .order_by("label")
    )
    return render_page(
        request,
        org,
        "dashboard/accounts.html",
        {"accounts": rows, "form": form, "active": "accounts", "exchange_ids": EXCHANGE_IDS},
        status,
    )


@require_POST
@member_view(role=Role.ADMIN)
def account_verify(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    rows = ExchangeAccount.objects.for_user(request.user).for_organization(org.organization)
    account = get_object_or_404(rows, pk=pk)
    account = exchange_account_verify(account=account, user=request.user, source=SOURCE)
    if account.status == ExchangeAccountStatus.ACTIVE:
        messages.success(request, f"{account.label} verified.")
    else:
        messages.error(request, f"{account.label} failed verification: {account.status_reason}")
    return redirect("dashboard:accounts")

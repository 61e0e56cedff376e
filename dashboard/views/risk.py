"""Risk limits and the organization's kill switch."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from bots.models import EventLevel
from bots.services import bot_event_record
from core.errors import ApplicationError, PermissionDeniedError
from dashboard.forms import KillSwitchEngageForm, RiskLimitsForm
from dashboard.views.base import SOURCE, OrgContext, form_error, kill_switch_state, member_view, render_page
from organizations.models import Role
from risk.models import RiskLimits
from risk.services import kill_switch_action_set, kill_switch_engage, kill_switch_release


@require_http_methods(["GET", "POST"])
@member_view()
def risk(request: HttpRequest, org: OrgContext) -> HttpResponse:
    limits = RiskLimits.objects.filter(
        organization=org.organization, exchange_account__isnull=True, bot__isnull=True
    ).first() or RiskLimits(organization=org.organization)
    form = RiskLimitsForm(instance=limits)
    status = 200
    if request.method == "POST":
        if not org.allows(Role.ADMIN):
            raise PermissionDenied("Editing risk limits needs the admin role or higher.")
        form = RiskLimitsForm(request.POST, instance=limits)
        if form.is_valid():
            created = limits.pk is None
            with transaction.atomic():
                saved = form.save()
                bot_event_record(
                    organization_id=org.organization.pk,
                    kind=f"risk.limits_{'created' if created else 'updated'}",
                    message=f"{saved.scope_label} {'created' if created else 'updated'}: "
                    f"{', '.join(sorted(form.changed_data)) or 'nothing'}.",
                    level=EventLevel.WARNING,
                    actor=request.user,
                    source=SOURCE,
                )
            messages.success(request, "Risk limits saved.")
            return redirect("dashboard:risk")
        status = 400
    others = (
        RiskLimits.objects.for_user(request.user)
        .for_organization(org.organization)
        .filter(Q(exchange_account__isnull=False) | Q(bot__isnull=False))
        .select_related("exchange_account", "bot", "organization")
    )
    return render_page(
        request,
        org,
        "dashboard/risk.html",
        {
            "form": form,
            "limits": limits,
            "others": others,
            "kill_switch": kill_switch_state(org.organization),
            "active": "risk",
        },
        status,
    )


@require_http_methods(["GET", "POST"])
@member_view()
def kill_switch(request: HttpRequest, org: OrgContext) -> HttpResponse:
    """GET shows the state and, for admins, the confirmation form; POST engages (the form must
    repeat the organization's name) or releases."""
    form = KillSwitchEngageForm(organization=org.organization)
    status = 200
    if request.method == "POST":
        if not org.allows(Role.ADMIN):
            raise PermissionDenied("Operating the kill switch needs the admin role or higher.")
        if request.POST.get("action") == "set_action":
            try:
                kill_switch_action_set(
                    organization=org.organization, action=request.POST.get("kill_action", ""), user=request.user
                )
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                messages.error(request, exc.message)
                return redirect("dashboard:kill_switch")
            messages.success(request, "Kill switch action saved.")
            return redirect("dashboard:kill_switch")
        if request.POST.get("action") == "release":
            kill_switch_release(organization=org.organization, user=request.user, source=SOURCE)
            messages.success(request, "Kill switch released. Bots stay stopped until started again.")
            return redirect("dashboard:risk")
        form = KillSwitchEngageForm(request.POST, organization=org.organization)
        if form.is_valid():
            try:
                kill_switch_engage(
                    organization=org.organization,
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    source=SOURCE,
                )
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
            else:
                messages.warning(request, "Kill switch engaged: every bot of the organization was stopped.")
                return redirect("dashboard:risk")
        status = 400
    return render_page(
        request,
        org,
        "dashboard/kill_switch.html",
        {"form": form, "kill_switch": kill_switch_state(org.organization), "active": "risk"},
        status,
    )

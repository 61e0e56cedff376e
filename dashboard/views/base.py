"""What every dashboard page shares: the selected organization, the role gate, scoped lookups."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from bots.models import Bot, EventSource
from core.errors import ApplicationError, PermissionDeniedError
from organizations.models import Membership, Organization, Role
from risk.models import KillSwitch

SESSION_ORG = "organization_id"
SOURCE = EventSource.DASHBOARD


@dataclass
class OrgContext:
    """The user's memberships and the one selected for this request."""

    memberships: list[Membership]
    membership: Membership

    @property
    def organization(self) -> Organization:
        return self.membership.organization

    def allows(self, role: str) -> bool:
        return self.membership.allows(role)

    def as_context(self) -> dict[str, Any]:
        return {
            "memberships": self.memberships,
            "membership": self.membership,
            "organization": self.organization,
            "can_trade": self.allows(Role.TRADER),
            "can_admin": self.allows(Role.ADMIN),
            "is_owner": self.allows(Role.OWNER),
        }


def org_context(request: HttpRequest) -> OrgContext | None:
    memberships = list(
        Membership.objects.filter(user_id=request.user.pk).select_related("organization").order_by("organization__name")
    )
    if not memberships:
        return None
    selected = request.session.get(SESSION_ORG)
    current = next((m for m in memberships if m.organization_id == selected), memberships[0])
    if selected != current.organization_id:
        request.session[SESSION_ORG] = current.organization_id
    return OrgContext(memberships=memberships, membership=current)


def member_view(role: str | None = None) -> Callable:
    """Log in, resolve the selected organization, and (for writes) hold the member to `role`:
    a forged request from a lower role is a 403 before anything is read or written."""

    def decorate(view: Callable) -> Callable:
        @login_required
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            org = org_context(request)
            if org is None:
                return render(request, "dashboard/no_organization.html", status=200)
            if role is not None and not org.allows(role):
                raise PermissionDenied(f"This needs the {Role(role).label.lower()} role or higher.")
            try:
                return view(request, org, *args, **kwargs)
            except PermissionDeniedError as exc:
                raise PermissionDenied(exc.message) from exc

        return wrapper

    return decorate


def render_page(request: HttpRequest, org: OrgContext, template: str, context: dict, status: int = 200) -> HttpResponse:
    return render(request, template, {**org.as_context(), **context}, status=status)


def wants_json(request: HttpRequest) -> bool:
    return "application/json" in request.headers.get("Accept", "")


def redirect_back(request: HttpRequest, default: str) -> HttpResponse:
    target = request.POST.get("next") or default
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = default
    return redirect(target)


def scoped_bot(request: HttpRequest, org: OrgContext, pk: int, *, switch: bool = False) -> Bot:
    """The bot, if it belongs to the selected organization (else 404). With `switch`, a bot of
    another of the user's organizations is found too and selects that organization."""
    bots = Bot.objects.for_user(request.user).select_related("exchange_account")
    if not switch:
        bots = bots.for_organization(org.organization)
    bot = get_object_or_404(bots, pk=pk)
    if bot.organization_id != org.organization.pk:
        membership = next(m for m in org.memberships if m.organization_id == bot.organization_id)
        org.membership = membership
        request.session[SESSION_ORG] = membership.organization_id
    return bot


def form_error(form, exc: ApplicationError) -> None:
    """Put a service's refusal on the field it names (`params.levels` is the params field)."""
    field = (exc.field or "").split(".")[0]
    form.add_error(field if field in form.fields else None, exc.message)


def kill_switch_state(organization: Organization | int) -> dict[str, Any]:
    """The organization's switch and the platform-wide one, for banners and the risk page."""
    org_id = getattr(organization, "pk", organization)
    rows = KillSwitch.objects.filter(Q(organization_id=org_id) | Q(organization__isnull=True))
    switches = {k.organization_id: k for k in rows}
    own, glob = switches.get(org_id), switches.get(None)
    return {
        "engaged": bool(own and own.engaged),
        "reason": own.reason if own else "",
        "changed_at": own.changed_at if own else None,
        "global_engaged": bool(glob and glob.engaged),
        "action": own.action if own else "cancel",
    }


# -- organization switcher ---------------------------------------------------------------------------
@require_POST
@member_view()
def organization_switch(request: HttpRequest, org: OrgContext) -> HttpResponse:
    try:
        wanted = int(request.POST.get("organization", ""))
    except ValueError:
        raise Http404("No such organization.") from None
    if not any(m.organization_id == wanted for m in org.memberships):
        raise Http404("No such organization.")
    request.session[SESSION_ORG] = wanted
    return redirect_back(request, reverse("dashboard:home"))


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})

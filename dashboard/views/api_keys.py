"""Organization API keys: created (shown once), listed, revoked."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST

from core.errors import ApplicationError, PermissionDeniedError
from dashboard.forms import ApiKeyForm
from dashboard.views.base import OrgContext, form_error, member_view, render_page
from organizations.models import ApiKey, Role
from organizations.services import api_key_create, api_key_revoke


@require_http_methods(["GET", "POST"])
@member_view(role=Role.ADMIN)
def api_keys(request: HttpRequest, org: OrgContext) -> HttpResponse:
    form = ApiKeyForm()
    new_key = None
    status = 200
    if request.method == "POST":
        if not org.allows(Role.OWNER):
            raise PermissionDenied("Creating API keys needs the owner role.")
        form = ApiKeyForm(request.POST)
        if form.is_valid():
            try:
                _key, new_key = api_key_create(
                    organization=org.organization,
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    expires_at=form.cleaned_data["expires_at"],
                    actor=request.user,
                )
            except PermissionDeniedError:
                raise
            except ApplicationError as exc:
                form_error(form, exc)
                status = 400
            else:
                # The full key is in this one response only; it is stored hashed.
                form = ApiKeyForm()
                status = 201
        else:
            status = 400
    keys = ApiKey.objects.for_user(request.user).for_organization(org.organization).order_by("-created_at")
    response = render_page(
        request,
        org,
        "dashboard/api_keys.html",
        {"keys": keys, "form": form, "new_key": new_key, "now": timezone.now(), "active": "keys"},
        status,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_POST
@member_view(role=Role.OWNER)
def api_key_revoke_view(request: HttpRequest, org: OrgContext, pk: int) -> HttpResponse:
    key = get_object_or_404(ApiKey.objects.for_user(request.user).for_organization(org.organization), pk=pk)
    api_key_revoke(api_key=key, actor=request.user)
    messages.success(request, f"Key {key.name} ({key.prefix}…) revoked.")
    return redirect("dashboard:api_keys")

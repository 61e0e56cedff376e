"""Telegram: a member links their chat to the platform bot with a one-time code (shown once,
with its deep link) and unlinks it. Any role may link: the chat acts with the member's roles."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_http_methods

from chatops.models import TelegramLink
from chatops.services import deep_link, link_code_create, link_remove
from core.errors import ApplicationError
from dashboard.views.base import SOURCE, OrgContext, member_view, render_page


@require_http_methods(["GET", "POST"])
@member_view()
def telegram(request: HttpRequest, org: OrgContext) -> HttpResponse:
    link = TelegramLink.objects.filter(user=request.user).select_related("organization").first()
    issued = None
    if request.method == "POST":
        if "unlink" in request.POST:
            if link is not None:
                link_remove(link=link, source=SOURCE)
                messages.success(request, "Telegram unlinked: the chat can no longer act for you.")
            return redirect("dashboard:telegram")
        try:
            code, expires_at = link_code_create(user=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
            return redirect("dashboard:telegram")
        issued = {"code": code, "expires_at": expires_at, "url": deep_link(code)}
    response = render_page(
        request,
        org,
        "dashboard/telegram.html",
        {
            "link": link,
            "issued": issued,
            "bot_username": (settings.TELEGRAM_BOT_USERNAME or "").lstrip("@"),
            "enabled": bool(settings.TELEGRAM_BOT_TOKEN),
            "active": "telegram",
        },
    )
    if issued:
        response["Cache-Control"] = "no-store"  # the code is shown on this answer only
    return response

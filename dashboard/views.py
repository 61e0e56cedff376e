"""Customer pages. Every read is scoped to the organizations the user belongs to."""

from django.contrib.auth.decorators import login_required
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render

from bots.models import Bot
from organizations.models import Membership


@login_required
def home(request: HttpRequest) -> HttpResponse:
    memberships = Membership.objects.filter(user=request.user).select_related("organization")
    bots = (
        Bot.objects.for_user(request.user)
        .select_related("organization", "exchange_account")
        .order_by("organization__name", "name")
    )
    return render(request, "dashboard/home.html", {"memberships": memberships, "bots": bots})


def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness for load balancers: the process answers and the database does too."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})

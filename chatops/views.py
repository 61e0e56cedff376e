"""Webhook mode (TELEGRAM_MODE=webhook): Telegram posts each update here with the secret token it
was given by setWebhook in the X-Telegram-Bot-Api-Secret-Token header. A post without the right
token is refused before its body is read; a body that is not an update is refused with 400; a
handled update is answered 200 (and an update whose handling failed is answered 200 too, once
the member was told: Telegram would otherwise send it again and again)."""

from __future__ import annotations

import hmac
import json
import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from chatops.bot import webhook_runner

logger = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - a header name


@csrf_exempt
@require_POST
def telegram_webhook(request: HttpRequest) -> HttpResponse:
    if settings.TELEGRAM_MODE != "webhook" or not settings.TELEGRAM_BOT_TOKEN:
        return JsonResponse({"ok": False, "error": "The Telegram webhook is off."}, status=404)
    expected = settings.TELEGRAM_WEBHOOK_SECRET
    given = request.headers.get(SECRET_HEADER, "")
    if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
        logger.warning("Telegram webhook post refused: wrong or missing secret token.")
        return JsonResponse({"ok": False, "error": "Wrong secret token."}, status=403)
    try:
        data = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
        return JsonResponse({"ok": False, "error": "The body is not a Telegram update."}, status=400)
    try:
        webhook_runner().process(data)
    except (KeyError, TypeError, ValueError) as exc:
        return JsonResponse(
            {"ok": False, "error": f"The body is not a Telegram update ({type(exc).__name__})."}, status=400
        )
    except TimeoutError:
        logger.error("Telegram update %s took too long; Telegram will send it again.", data["update_id"])
        return JsonResponse({"ok": False, "error": "Timed out."}, status=503)
    return JsonResponse({"ok": True})

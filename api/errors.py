"""One error shape for every API error: {"error": {"code", "message", "field"}}."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError, PermissionDeniedError


def error_body(*, code: str, message: str, field: str | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "field": field}}


def exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, PermissionDeniedError):
        return Response(
            error_body(code=exc.code, message=exc.message, field=exc.field), status=status.HTTP_403_FORBIDDEN
        )
    if isinstance(exc, ApplicationError):
        return Response(
            error_body(code=exc.code, message=exc.message, field=exc.field), status=status.HTTP_400_BAD_REQUEST
        )
    if isinstance(exc, Http404):
        # The same answer for "does not exist" and "belongs to another organization".
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        field, detail = _first_error(exc.detail)
        code = getattr(detail, "code", None) or "invalid"
        response.data = error_body(code=code, message=str(detail), field=field)
    else:
        detail = exc.detail if isinstance(exc, exceptions.APIException) else str(exc)
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = error_body(code=code, message=str(detail))
    return response


def _first_error(detail: Any, path: str | None = None) -> tuple[str | None, Any]:
    """The first message of a (nested) validation error and the dotted path of its field."""
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "__all__") else str(key)
            return _first_error(value, f"{path}.{name}" if path and name else (name or path))
        return path, "Invalid input."
    if isinstance(detail, list):
        for value in detail:
            if value:
                return _first_error(value, path)
        return path, "Invalid input."
    return path, detail

"""Display helpers for the dashboard templates."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django import template

from exchanges.venues import CREDENTIAL_LABELS

register = template.Library()


@register.filter
def money(value) -> str:
    """A Decimal without exponent or trailing zeros (`0E-18` is `0`); empty is a dash."""
    if value is None or value == "":
        return "—"
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == 0:
        return "0"
    text = format(number.normalize(), "f")
    return text


@register.filter
def signed_class(value) -> str:
    """`pos`, `neg` or empty, for colouring a PnL."""
    try:
        number = Decimal(str(value))
    except (InvalidOperation, TypeError, ValueError):
        return ""
    return "pos" if number > 0 else "neg" if number < 0 else ""


@register.filter
def iso(value) -> str:
    return value.isoformat() if value else ""


@register.filter
def credential_label(name: str) -> str:
    """`wallet_address` -> `Wallet address`."""
    return CREDENTIAL_LABELS.get(name, name)

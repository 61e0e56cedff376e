"""Errors of the bot lifecycle."""

from core.errors import ApplicationError


class IllegalTransition(ApplicationError):
    """The state machine has no edge from the bot's status to the requested one."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="status", code="illegal_transition")


class TransitionConflict(ApplicationError):
    """Another process changed the bot's status first; this caller lost the race."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="status", code="conflict")

"""The one error type services raise: its message is fit to show a user."""


class ApplicationError(Exception):
    """A business rule refused the request.

    `field` names the input at fault when there is one (API errors and forms point at it);
    `code` is a stable machine-readable reason.
    """

    def __init__(self, message: str, *, field: str | None = None, code: str = "invalid") -> None:
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class PermissionDeniedError(ApplicationError):
    """The user's role in the organization does not allow this action."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="permission_denied")

"""OpenAPI description of the API: the API key authentication and the error answers."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse


class ApiKeyAuthenticationScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.ApiKeyAuthentication"
    name = "ApiKeyAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "`Api-Key <prefix>.<secret>`; the key acts for its organization with its scopes.",
        }


ERROR_RESPONSES = {
    "400": "Invalid input, or a rule refused the request; `field` names the input at fault.",
    "401": "No credentials, or credentials that were refused.",
    "403": "Your role or your key's scope does not allow this.",
    "404": "No such object, or another organization's.",
    "429": "Too many requests; retry after the `Retry-After` seconds.",
}


class ApiAutoSchema(AutoSchema):
    """Every operation documents the error answers it can give, all in the one error shape."""

    def _get_response_bodies(self, direction: str = "response") -> dict:
        from api.serializers import ErrorSerializer

        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for code, description in ERROR_RESPONSES.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(
                    OpenApiResponse(ErrorSerializer, description=description), code, direction=direction
                )
        return responses

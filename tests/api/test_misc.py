"""Strategies, Hummingbot export, throttling and the OpenAPI schema."""

import io
import json
import zipfile

import pytest
from django.conf import settings
from django.core.management import call_command
from django.test import override_settings

from organizations.models import Role
from strategies.registry import all_specs
from tests.api.conftest import error_of
from tests.factories import HummingbotDeploymentFactory, HummingbotInstanceFactory

pytestmark = pytest.mark.django_db


def test_strategies_describe_their_parameter_schema(client_for, alice):
    client = client_for(alice)
    listed = client.get("/api/v1/strategies/").json()
    assert [row["key"] for row in listed] == [spec.key for spec in all_specs()]
    grid = client.get("/api/v1/strategies/grid/").json()
    spec = next(s for s in all_specs() if s.key == "grid")
    assert grid["params_schema"] == spec.json_schema()
    assert grid["params_schema"]["type"] == "object"
    assert {"label", "summary", "timeframe", "warmup_default"} <= set(grid)
    missing = client.get("/api/v1/strategies/nope/")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"


def test_instance_export_is_a_zip_for_own_instances_only(client_for, member, alice, org_a, org_b):
    own = HummingbotDeploymentFactory(organization=org_a, bot__organization=org_a).instance
    foreign = HummingbotInstanceFactory(organization=org_b)
    client = client_for(alice)
    response = client.get(f"/api/v1/hummingbot/instances/{own.pk}/export/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    names = zipfile.ZipFile(io.BytesIO(response.content)).namelist()
    assert "conf/conf_client.yml" in names and "conf/strategies/conf_pmm_1.yml" in names
    assert client.get(f"/api/v1/hummingbot/instances/{foreign.pk}/export/").status_code == 404
    # It carries the broker login: admins only.
    viewer = client_for(member(Role.VIEWER))
    assert viewer.get(f"/api/v1/hummingbot/instances/{own.pk}/export/").status_code == 403
    assert viewer.get(f"/api/v1/hummingbot/instances/{own.pk}/").status_code == 200


def _rates(**rates):
    config = {**settings.REST_FRAMEWORK}
    config["DEFAULT_THROTTLE_RATES"] = {**config["DEFAULT_THROTTLE_RATES"], **rates}
    return override_settings(REST_FRAMEWORK=config)


def test_sessions_are_throttled_with_the_error_shape(client_for, alice):
    client = client_for(alice)
    with _rates(user="2/min"):
        assert client.get("/api/v1/strategies/").status_code == 200
        assert client.get("/api/v1/strategies/").status_code == 200
        response = client.get("/api/v1/strategies/")
    assert response.status_code == 429
    assert error_of(response)["code"] == "throttled"
    assert "Retry-After" in response


def test_api_keys_are_throttled_per_key(client_for, make_key):
    first, second = client_for(key=make_key("read")[1]), client_for(key=make_key("read")[1])
    with _rates(api_key="1/min"):
        assert first.get("/api/v1/strategies/").status_code == 200
        throttled = first.get("/api/v1/strategies/")
        assert second.get("/api/v1/strategies/").status_code == 200
    assert throttled.status_code == 429 and error_of(throttled)["code"] == "throttled"


def test_anonymous_calls_are_throttled(client_for):
    # The schema is the one public endpoint; protected ones refuse anonymous calls first (401).
    with _rates(anon="1/min"):
        assert client_for().get("/api/schema/", {"format": "json"}).status_code == 200
        response = client_for().get("/api/schema/", {"format": "json"})
    assert response.status_code == 429
    assert json.loads(response.content)["error"]["code"] == "throttled"


def test_schema_and_docs_are_served(client_for):
    client = client_for()
    response = client.get("/api/schema/")
    assert response.status_code == 200
    assert b"/api/v1/bots/{id}/start/" in response.content
    assert client.get("/api/docs/").status_code == 200


def test_schema_generates_without_warnings(tmp_path):
    # --fail-on-warn turns every drf-spectacular warning or error into a failure.
    call_command("spectacular", "--fail-on-warn", "--file", str(tmp_path / "schema.yml"))
    assert (tmp_path / "schema.yml").stat().st_size > 0

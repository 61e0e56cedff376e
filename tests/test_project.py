"""Project-wide checks: migrations match the models, lint is clean, production settings are strict."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent

PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "DJANGO_SECRET_KEY": "prod-" + "x7Gq2vLp9Rk3Wm8Zt4Yb6Nc1Hd5Jf0Sa" * 2,
    "FIELD_ENCRYPTION_KEY": "bmV3LWtleS1uZXcta2V5LW5ldy1rZXktbmV3LWtleSE=",
    "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/backoffice",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
    "CELERY_BROKER_URL": "redis://127.0.0.1:6379/1",
    "ALLOWED_HOSTS": "backoffice.example.com",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "FIELD_", "DATABASE_"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=clean | env, capture_output=True, text=True, timeout=120
    )


@pytest.mark.django_db
def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


def test_ruff_is_clean():
    lint = subprocess.run([VENV_BIN / "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert lint.returncode == 0, lint.stdout
    fmt = subprocess.run([VENV_BIN / "ruff", "format", "--check", "."], cwd=ROOT, capture_output=True, text=True)
    assert fmt.returncode == 0, fmt.stdout


def test_the_apps_keep_their_layers():
    """Every app of the project sits in exactly one layer of the contract, and no app imports one
    above it (`lint-imports` follows imports inside functions too)."""
    import tomllib

    from django.conf import settings

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    layers = [name.strip() for layer in config["contracts"][0]["layers"] for name in layer.split("|")]
    project_apps = [app for app in settings.INSTALLED_APPS if (ROOT / app / "apps.py").exists()]
    assert sorted(layers) == sorted([*project_apps, "config", "core"])
    assert len(layers) == len(set(layers))
    assert "ignore_imports" not in config["contracts"][0]
    result = subprocess.run([VENV_BIN / "lint-imports"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
    assert "1 kept, 0 broken" in result.stdout


def test_check_deploy_is_clean_with_production_secrets():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION_ENV)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize("missing", ["DJANGO_SECRET_KEY", "FIELD_ENCRYPTION_KEY", "DATABASE_URL", "ALLOWED_HOSTS"])
def test_production_refuses_to_start_without_a_secret(missing):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != missing}
    result = manage("check", env=env)
    assert result.returncode != 0
    assert missing in result.stderr

"""Environment-driven settings: strict parsing, and a clean deploy check in production."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from mdm.env import env_bool, env_int, env_str

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "SECRET_KEY": "a-production-secret-that-is-long-and-random-0123456789-abcdefghij",
    "DEBUG": "false",
    "ALLOWED_HOSTS": "mdm.example.com",
    "SECURE_SSL_REDIRECT": "true",
    "SESSION_COOKIE_SECURE": "true",
    "CSRF_COOKIE_SECURE": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
    "MDM_REQUIRE_SECRET_KEY": "true",
}


def manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_when_configured_for_production():
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_deploy_flags_the_local_defaults():
    env = {k: "" for k in PRODUCTION}
    result = manage("check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr + result.stdout


def test_production_refuses_to_start_without_secret_key():
    result = manage("check", env={**PRODUCTION, "SECRET_KEY": ""})
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_booleans_must_be_exactly_true_or_false(monkeypatch):
    monkeypatch.setenv("MDM_FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="MDM_FLAG"):
        env_bool("MDM_FLAG", False)
    monkeypatch.setenv("MDM_FLAG", "TRUE")
    assert env_bool("MDM_FLAG", False) is True


def test_integers_must_parse(monkeypatch):
    monkeypatch.setenv("MDM_N", "ten")
    with pytest.raises(ImproperlyConfigured, match="MDM_N"):
        env_int("MDM_N", 1)


def test_secrets_can_be_read_from_files(monkeypatch, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("MDM_SECRET_FILE", str(secret))
    assert env_str("MDM_SECRET") == "from-a-file"

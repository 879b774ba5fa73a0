"""Outbound-sync settings with their defaults (``settings.MDM_SYNC``, ``MDM_TARGETS``)."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, float] = {
    "retry_base_seconds": 2.0,
    "retry_cap_seconds": 600.0,
    "max_attempts": 20,
    "lease_seconds": 120.0,
    "http_timeout_seconds": 15.0,
    "wait_recheck_seconds": 30.0,
    "max_wait_seconds": 86400.0,
    "requeue_after_seconds": 60.0,
}


def sync_setting(name: str) -> float:
    return float(getattr(settings, "MDM_SYNC", {}).get(name, DEFAULTS[name]))


def target_config(code: str) -> dict[str, Any]:
    return dict(getattr(settings, "MDM_TARGETS", {}).get(code, {}))

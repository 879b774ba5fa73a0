"""Home page and health check."""

from __future__ import annotations

import pytest
import redis
from django.core.cache import cache

from golden.services import ingest_records


@pytest.mark.django_db
def test_health_checks_the_real_database_and_cache(client, settings):
    response = client.get("/health/")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "cache": "ok"}
    # The suite runs against a real Redis: the probe key is in it.
    assert redis.Redis.from_url(settings.REDIS_URL).exists(cache.make_key("health-probe"))


@pytest.mark.django_db
def test_home_counts_golden_and_source_records(client, systems):
    ingest_records(
        entity_type="customer",
        system=systems["crm"],
        records=[{"source_id": "1", "name": "Hooli Inc", "country": "US"}],
        actor=None,
    )
    html = client.get("/").content.decode()
    assert "CRM records" in html
    assert "/api/v1/customers/" in html

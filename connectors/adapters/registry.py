"""Which adapter serves which target system.

``MDM_TARGETS[code]["adapter"]`` names it; without one, the system's kind decides
(crm → Salesforce, erp → NetSuite, psa → Kantata). Tryton (a second ERP target, code
``tryton``) is always named explicitly. Adapters are built once per process
and configuration (they keep sessions and tokens).
"""

from __future__ import annotations

import json
import threading
from functools import cache
from typing import TYPE_CHECKING

from django.utils.module_loading import import_string

from connectors.adapters.base import Adapter, AdapterError
from connectors.conf import sync_setting, target_config

if TYPE_CHECKING:
    from golden.models import SourceSystem

ADAPTERS: dict[str, str] = {
    "salesforce": "connectors.adapters.salesforce.SalesforceAdapter",
    "netsuite": "connectors.adapters.netsuite.NetSuiteAdapter",
    "kantata": "connectors.adapters.kantata.KantataAdapter",
    "tryton": "connectors.adapters.tryton.TrytonAdapter",
}
DEFAULT_BY_KIND: dict[str, str] = {"crm": "salesforce", "erp": "netsuite", "psa": "kantata"}

_instances: dict[tuple[str, str], Adapter] = {}
_lock = threading.Lock()


def adapter_name(system: SourceSystem) -> str | None:
    return target_config(system.code).get("adapter") or DEFAULT_BY_KIND.get(system.kind)


@cache
def adapter_class(name: str) -> type[Adapter]:
    return import_string(ADAPTERS[name])


def supports(system: SourceSystem, entity_type: str) -> bool:
    """Whether this system's adapter has a mapping for the entity type."""
    name = adapter_name(system)
    return name in ADAPTERS and adapter_class(name).supports(entity_type)


def get_adapter(system: SourceSystem) -> Adapter:
    name = adapter_name(system)
    config = {"timeout": sync_setting("http_timeout_seconds"), **target_config(system.code)}
    if name not in ADAPTERS or not config.get("url"):
        raise AdapterError(
            f"No adapter configured for target {system.code} (MDM_TARGETS)", permanent=True
        )
    key = (system.code, json.dumps(config, sort_keys=True, default=str))
    with _lock:
        adapter = _instances.get(key)
        if adapter is None:
            adapter = _instances[key] = adapter_class(name)(system.code, config)
        return adapter

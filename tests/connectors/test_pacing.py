"""Pacing per target: the token bucket in Redis is shared by every process, so two worker
processes together stay within the configured rate. Judged by what the sandbox saw:
calls per one-second window and refusals by its own rate limit."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time

import pytest
from django.conf import settings

from connectors.sandbox import RunningSandbox
from connectors.sandbox.base import busiest_second

CALLS_PER_PROCESS = 12
PACED_RATE = 8  # what the clients are configured to send, per second, together
SANDBOX_LIMIT = 10  # what the sandbox admits per second

CLIENT = textwrap.dedent(
    """
    import os, sys, time
    import django
    os.environ["DJANGO_SETTINGS_MODULE"] = "mdm.settings"
    django.setup()
    from connectors.adapters.base import AdapterError
    from connectors.adapters.netsuite import NetSuiteAdapter

    url, rate, calls, start = sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
    adapter = NetSuiteAdapter(
        "erp", {"url": url, "token": "netsuite-sandbox-token", "rate_limit": rate}
    )
    time.sleep(max(0.0, start - time.time()))
    for n in range(calls):
        try:
            adapter.fetch_by_external_id("customer", f"CUS-{n:06d}")
        except AdapterError:
            pass  # refused: the sandbox counted it, which is what is measured
    """
)


def run_clients(url: str, processes: int, rate: float) -> None:
    start = time.time() + 3  # both processes are up and waiting by then
    env = {**os.environ, "REDIS_URL": settings.REDIS_URL, "NO_PROXY": "127.0.0.1"}
    clients = [
        subprocess.Popen(
            [sys.executable, "-c", CLIENT, url, str(rate), str(CALLS_PER_PROCESS), str(start)],
            cwd=settings.BASE_DIR,
            env=env,
        )
        for _ in range(processes)
    ]
    for client in clients:
        assert client.wait(120) == 0


@pytest.mark.skipif(not settings.REDIS_URL, reason="the shared bucket lives in Redis")
def test_two_processes_together_send_at_most_the_paced_rate(netsuite: RunningSandbox) -> None:
    netsuite.set_fault("rate_limit", per_second=SANDBOX_LIMIT)

    run_clients(netsuite.url, processes=2, rate=PACED_RATE)

    traffic = netsuite.traffic()
    assert len(traffic["admitted"]) == 2 * CALLS_PER_PROCESS
    assert traffic["refused"] == []
    # One call of slack for the network's jitter around a window's edge; two clients
    # pacing on their own would have put about twice the rate in a second.
    assert busiest_second(traffic["admitted"]) <= PACED_RATE + 1


def test_without_pacing_the_same_clients_trip_the_limit(netsuite: RunningSandbox) -> None:
    """The control for the test above: the limit is tight enough to be tripped."""
    netsuite.set_fault("rate_limit", per_second=SANDBOX_LIMIT)

    run_clients(netsuite.url, processes=2, rate=0)

    assert netsuite.traffic()["refused"]

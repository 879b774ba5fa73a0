"""Correlation IDs: one ID follows a request from ingest to history to delivery.

The ID lives in a ContextVar, so services read it without requests being passed
around. The middleware sets it per request, management commands per run, and the
Celery signals carry it in task headers across the queue.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from django.http import HttpRequest, HttpResponse

correlation_id: ContextVar[str] = ContextVar("correlation_id", default="")

HEADER = "X-Correlation-ID"
# Celery's own message properties carry a "correlation_id" (the task ID), so ours has a
# name of its own.
TASK_HEADER = "mdm_correlation_id"
_VALID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


def new_correlation_id() -> str:
    return uuid.uuid4().hex


def current_correlation_id() -> str:
    """The active ID, creating one for code running outside any request or task."""
    value = correlation_id.get()
    if not value:
        value = new_correlation_id()
        correlation_id.set(value)
    return value


@contextmanager
def correlation_scope(value: str | None = None) -> Iterator[str]:
    token = correlation_id.set(value or new_correlation_id())
    try:
        yield correlation_id.get()
    finally:
        correlation_id.reset(token)


class CorrelationIdMiddleware:
    """Takes a well-formed incoming X-Correlation-ID or makes one, and echoes it back."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get(HEADER, "")
        value = incoming if _VALID.match(incoming) else new_correlation_id()
        with correlation_scope(value):
            response = self.get_response(request)
        response[HEADER] = value
        return response


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.correlation_id = correlation_id.get() or "-"
        return True


def connect_celery_signals() -> None:
    """Copy the correlation ID into every published task and restore it in the worker."""
    from celery.signals import before_task_publish, task_postrun, task_prerun

    @before_task_publish.connect(weak=False)
    def _publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
        if headers is not None and correlation_id.get():
            headers[TASK_HEADER] = correlation_id.get()

    @task_prerun.connect(weak=False)
    def _prerun(task: Any = None, **_: Any) -> None:
        value = getattr(task.request, TASK_HEADER, None) if task else None
        task.request._correlation_token = correlation_id.set(value or new_correlation_id())

    @task_postrun.connect(weak=False)
    def _postrun(task: Any = None, **_: Any) -> None:
        token = getattr(task.request, "_correlation_token", None) if task else None
        if token is not None:
            correlation_id.reset(token)

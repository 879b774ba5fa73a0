"""Outbound sync API: the outbox (list, replay) and per-record sync state and approval."""

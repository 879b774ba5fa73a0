"""Outbound sync models (target bindings, outbox, delivery attempts) live here."""

"""The data-steward workbench: review queue, compare, golden record pages, search,
exception queues and a dashboard. Server-rendered, with htmx partials; every write goes
through ``golden.services``."""

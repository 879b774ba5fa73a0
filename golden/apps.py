from __future__ import annotations

from typing import Any

from django.apps import AppConfig


class GoldenConfig(AppConfig):
    name = "golden"
    verbose_name = "Golden records"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from simple_history.signals import pre_create_historical_record

        from mdm.context import current_correlation_id

        def stamp_correlation_id(history_instance: Any = None, **_: Any) -> None:
            history_instance.correlation_id = current_correlation_id()

        pre_create_historical_record.connect(
            stamp_correlation_id, weak=False, dispatch_uid="golden.stamp_correlation_id"
        )

        from django.db.models.signals import post_save

        from golden import config_cache
        from golden.models import MatchSettings, SurvivorshipRule

        for model in (MatchSettings, SurvivorshipRule):
            post_save.connect(
                lambda **_: config_cache.forget(),
                sender=model,
                weak=False,
                dispatch_uid=f"golden.forget_config.{model.__name__}",
            )

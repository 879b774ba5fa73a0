from django.apps import AppConfig


class ConnectorsConfig(AppConfig):
    name = "connectors"
    verbose_name = "Outbound sync"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from connectors.signals import golden_change_saved

        post_save.connect(
            golden_change_saved,
            sender="golden.GoldenChange",
            weak=False,
            dispatch_uid="connectors.kick_fan_out",
        )

        from connectors.steward import dashboard_panel
        from golden.steward.dashboard import register_panel

        register_panel(dashboard_panel)

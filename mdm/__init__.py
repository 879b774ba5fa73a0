"""MDM service Django project. Importing the Celery app here registers shared tasks."""

from mdm.celery import app as celery_app

__all__ = ("celery_app",)

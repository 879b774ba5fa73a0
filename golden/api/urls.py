from django.urls import path
from rest_framework.routers import SimpleRouter

from golden.api.views import IngestApi, MatchApi, XrefApi, viewset_for
from golden.entities import ENTITIES

router = SimpleRouter()
for spec in ENTITIES.values():
    router.register(spec.api_path, viewset_for(spec), basename=spec.entity_type)

urlpatterns = [
    path("ingest/<str:entity>/", IngestApi.as_view(), name="ingest"),
    path("match/<str:entity>/", MatchApi.as_view(), name="match"),
    path("xref/", XrefApi.as_view(), name="xref"),
    *router.urls,
]

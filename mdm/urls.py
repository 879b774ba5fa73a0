"""URLs: admin, the versioned API, the OpenAPI schema and its docs."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularRedocView, SpectacularSwaggerView

from golden import web

urlpatterns = [
    path("", web.home, name="home"),
    path("health/", web.health, name="health"),
    path("metrics", include("connectors.metrics")),
    path("admin/", admin.site.urls),
    path("api/v1/sync/", include("connectors.api.urls")),
    path("api/v1/", include("golden.api.urls")),
    path("steward/sync/", include("connectors.steward")),
    path("steward/", include("golden.steward.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/redoc/", SpectacularRedocView.as_view(url_name="schema"), name="redoc"),
]

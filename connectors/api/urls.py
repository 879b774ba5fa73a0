from django.urls import path

from connectors.api import views

urlpatterns = [
    path("messages/", views.MessageListApi.as_view(), name="sync-messages"),
    path("messages/replay/", views.BulkReplayApi.as_view(), name="sync-messages-replay"),
    path("messages/<int:pk>/", views.MessageDetailApi.as_view(), name="sync-message"),
    path("messages/<int:pk>/replay/", views.ReplayApi.as_view(), name="sync-message-replay"),
    path("records/<str:canonical_id>/", views.RecordSyncApi.as_view(), name="sync-record"),
    path(
        "records/<str:canonical_id>/approve/",
        views.ApproveApi.as_view(),
        name="sync-record-approve",
    ),
    path("report/", views.ReportApi.as_view(), name="sync-report"),
]

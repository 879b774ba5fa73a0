"""Outbound sync API: reads are generic views over the outbox; writes (replay, approve)
are explicit views that call the services. Stewards and admins only."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from connectors import selectors, services
from connectors.api.filters import OutboundMessageFilter
from connectors.api.permissions import CanSteward
from connectors.api.serializers import (
    ApproveInputSerializer,
    BulkReplayInputSerializer,
    OutboundMessageDetailSerializer,
    OutboundMessageSerializer,
    ReplayResultSerializer,
)
from connectors.models import OutboundMessage
from golden.exceptions import NotFound
from golden.models import GoldenRecord

RECORD_SYNC = inline_serializer(
    "RecordSync",
    {
        "canonical_id": serializers.CharField(),
        "entity_type": serializers.CharField(),
        "version": serializers.IntegerField(),
        "status": serializers.CharField(),
        "approval": serializers.DictField(),
        "targets": serializers.ListField(child=serializers.DictField()),
    },
)


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class MessageListApi(generics.ListAPIView):
    """Outbound messages, newest first; filter by status (e.g. ``dead``), target, entity
    type, operation, canonical ID."""

    permission_classes = [CanSteward]
    serializer_class = OutboundMessageSerializer
    filterset_class = OutboundMessageFilter
    pagination_class = NewestFirst
    queryset = OutboundMessage.objects.select_related("target")


class MessageDetailApi(generics.RetrieveAPIView):
    """One message with its payload and every delivery attempt."""

    permission_classes = [CanSteward]
    serializer_class = OutboundMessageDetailSerializer

    def get_queryset(self) -> QuerySet[OutboundMessage]:
        return OutboundMessage.objects.select_related("target").prefetch_related(
            "delivery_attempts"
        )


class ReplayApi(APIView):
    permission_classes = [CanSteward]

    @extend_schema(
        request=None,
        responses={200: OutboundMessageSerializer, 404: OpenApiResponse(), 409: OpenApiResponse()},
        summary="Replay one failed or dead message",
        operation_id="sync_message_replay",
    )
    def post(self, request: Request, pk: int) -> Response:
        message = services.replay_message(pk)
        return Response(OutboundMessageSerializer(message).data)


class BulkReplayApi(APIView):
    permission_classes = [CanSteward]

    @extend_schema(
        request=BulkReplayInputSerializer,
        responses={200: ReplayResultSerializer},
        summary="Replay failed or dead messages by ID or by filter",
        operation_id="sync_messages_bulk_replay",
    )
    def post(self, request: Request) -> Response:
        data = BulkReplayInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        replayed = services.replay_messages(_bulk_ids(data.validated_data))
        return Response({"replayed": replayed, "count": len(replayed)})


def _bulk_ids(params: dict[str, Any]) -> list[int]:
    if params.get("ids"):
        return list(params["ids"])
    messages = OutboundMessage.objects.filter(status=params["status"])
    if params.get("target"):
        messages = messages.filter(target__code=params["target"])
    if params.get("entity_type"):
        messages = messages.filter(entity_type=params["entity_type"])
    return list(messages.order_by("pk").values_list("pk", flat=True)[: params["limit"]])


def _golden(canonical_id: str) -> GoldenRecord:
    golden = GoldenRecord.objects.filter(canonical_id=canonical_id.upper()).first()
    if golden is None:
        raise NotFound(f"No golden record {canonical_id}.")
    return golden


class RecordSyncApi(APIView):
    permission_classes = [CanSteward]

    @extend_schema(responses={200: RECORD_SYNC}, summary="Approval and per-target sync state")
    def get(self, request: Request, canonical_id: str) -> Response:
        return Response(selectors.record_sync_status(_golden(canonical_id)))


class ApproveApi(APIView):
    permission_classes = [CanSteward]

    @extend_schema(
        request=ApproveInputSerializer,
        responses={200: RECORD_SYNC},
        summary="Approve the record's current version for outbound sync",
    )
    def post(self, request: Request, canonical_id: str) -> Response:
        data = ApproveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        golden = _golden(canonical_id)
        services.approve_golden_record(golden, actor=request.user, note=data.validated_data["note"])
        golden.refresh_from_db()
        return Response(selectors.record_sync_status(golden), status=status.HTTP_200_OK)


class ReportApi(APIView):
    permission_classes = [CanSteward]

    @extend_schema(
        responses={
            200: inline_serializer(
                "SyncReport", {"rows": serializers.ListField(), "pacing": serializers.ListField()}
            )
        },
        summary="Messages per target and entity type, by status; pacing per target",
    )
    def get(self, request: Request) -> Response:
        return Response({"rows": selectors.sync_report(), "pacing": selectors.pacing_report()})

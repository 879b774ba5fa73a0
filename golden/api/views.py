"""API views: declarative reads, explicit writes that call services."""

from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from golden import roles, selectors
from golden.api.permissions import CanIngest
from golden.api.serializers import (
    GoldenRecordDetailSerializer,
    GoldenRecordSerializer,
    IngestInputSerializer,
    IngestResponseSerializer,
    MatchInputSerializer,
    MatchResponseSerializer,
    XrefQuerySerializer,
    XrefSerializer,
    system_ids,
)
from golden.entities import ENTITIES, EntitySpec, entity_spec
from golden.exceptions import IdempotencyConflict, NotFound
from golden.filters import GoldenRecordFilter
from golden.models import IngestRequest, SourceSystem
from golden.services import Action, ingest_records, match_record
from golden.validation import RecordInvalid, clean_record, content_hash

ERROR = inline_serializer(
    "Error",
    {
        "code": serializers.CharField(),
        "message": serializers.CharField(),
        "fields": serializers.DictField(),
    },
)


def xref_payload(resolution: selectors.Resolution) -> dict[str, Any]:
    golden = resolution.golden
    return {
        "canonical_id": golden.canonical_id,
        "entity": golden.entity_type,
        "status": golden.status,
        "requested_id": resolution.requested_id,
        "redirected": resolution.redirected,
        "name": golden.name,
        "system_ids": system_ids(golden),
        "merged_ids": [g.canonical_id for g in golden.merged_from.all()],
    }


def _redirect_to_survivor(
    request: Request, resolution: selectors.Resolution, route: str
) -> Response:
    """A merged ID answers 301 to its survivor, with a body that says so explicitly."""
    path = reverse(route, kwargs={"canonical_id": resolution.golden.canonical_id})
    body = {
        "code": "merged",
        "message": f"{resolution.requested_id} was merged into {resolution.golden.canonical_id}.",
        "requested_id": resolution.requested_id,
        "canonical_id": resolution.golden.canonical_id,
        "location": request.build_absolute_uri(path),
    }
    return Response(
        body, status=status.HTTP_301_MOVED_PERMANENTLY, headers={"Location": body["location"]}
    )


class GoldenRecordViewSet(viewsets.ReadOnlyModelViewSet):
    """List and read golden records of one entity type; merged IDs redirect to survivors."""

    spec: EntitySpec
    lookup_field = "canonical_id"
    lookup_value_regex = "[A-Za-z]{3}-[0-9]+"
    filterset_class = GoldenRecordFilter

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return selectors.golden_records(self.spec)

    def get_serializer_class(self):  # type: ignore[no-untyped-def]
        return GoldenRecordDetailSerializer if self.action == "retrieve" else GoldenRecordSerializer

    @extend_schema(
        responses={
            200: GoldenRecordDetailSerializer,
            301: OpenApiResponse(description="The ID was merged; Location names the survivor."),
            404: ERROR,
        }
    )
    def retrieve(self, request: Request, canonical_id: str) -> Response:
        resolution = selectors.resolve_canonical_id(self.spec, canonical_id)
        if resolution.redirected:
            return _redirect_to_survivor(request, resolution, f"{self.spec.entity_type}-detail")
        return Response(self.get_serializer(resolution.golden).data)

    @extend_schema(
        responses={200: XrefSerializer, 301: OpenApiResponse(description="Merged."), 404: ERROR}
    )
    @action(detail=True, methods=["get"])
    def xref(self, request: Request, canonical_id: str) -> Response:
        """Every system's ID for this golden record."""
        resolution = selectors.resolve_canonical_id(self.spec, canonical_id)
        if resolution.redirected:
            return _redirect_to_survivor(request, resolution, f"{self.spec.entity_type}-xref")
        return Response(xref_payload(resolution))


def viewset_for(spec: EntitySpec) -> type[GoldenRecordViewSet]:
    name = f"{spec.label.replace(' ', '')}ViewSet"
    viewset = type(
        name, (GoldenRecordViewSet,), {"spec": spec, "__doc__": f"{spec.label}s: golden records."}
    )
    return extend_schema(tags=[spec.api_path])(viewset)  # type: ignore[no-any-return]


class XrefApi(APIView):
    """Which golden record a system's ID belongs to, and every other system's ID for it."""

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "system", OpenApiTypes.STR, required=True, description="crm, psa, erp, …"
            ),
            OpenApiParameter("entity", OpenApiTypes.STR, required=True, enum=sorted(ENTITIES)),
            OpenApiParameter("source_id", OpenApiTypes.STR, required=True),
        ],
        responses={200: XrefSerializer, 400: ERROR, 404: ERROR},
        tags=["xref"],
    )
    def get(self, request: Request) -> Response:
        query = XrefQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        spec = entity_spec(query.validated_data["entity"])
        system = query.validated_data["system"]
        source_id = query.validated_data["source_id"]
        golden = selectors.find_by_system_id(spec, system.code, source_id)
        if golden is None:
            raise NotFound(f"{system.code} has no {spec.label.lower()} {source_id!r} known here.")
        return Response(xref_payload(selectors.follow_merges(spec, golden)))


class IngestApi(APIView):
    """Ingest one or many source records of one entity type from one system.

    Each record gets its own result; good records are stored even when others are
    rejected. Re-sending an unchanged record answers ``unchanged``. With an
    ``Idempotency-Key`` header, a repeated request replays the stored response.
    """

    permission_classes = [CanIngest]

    @extend_schema(
        request=IngestInputSerializer,
        parameters=[
            OpenApiParameter(
                "entity", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(ENTITIES)
            ),
            OpenApiParameter("Idempotency-Key", OpenApiTypes.STR, OpenApiParameter.HEADER),
        ],
        responses={
            200: IngestResponseSerializer,
            207: OpenApiResponse(
                IngestResponseSerializer, description="Some records were rejected."
            ),
            422: OpenApiResponse(
                IngestResponseSerializer, description="Every record was rejected."
            ),
            400: ERROR,
            401: ERROR,
            403: ERROR,
        },
        tags=["ingest"],
    )
    def post(self, request: Request, entity: str) -> Response:
        spec = _spec_or_404(entity)
        body = IngestInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        system = body.validated_data["system"]
        if not roles.can_ingest_as(request.user, system):
            raise PermissionDenied(f"This account may not write as {system.code}.")
        key = request.headers.get("Idempotency-Key", "").strip()[:128]
        request_hash = content_hash({"entity": spec.entity_type, "body": request.data})
        if key:
            replay = _stored_response(request, key, request_hash)
            if replay is not None:
                return replay
        results = ingest_records(
            entity_type=spec.entity_type,
            system=system,
            records=body.validated_data["records"],
            actor=request.user,
            reason=f"api ingest by {request.user.get_username()}",
        )
        summary = dict.fromkeys(Action.ALL, 0)
        for result in results:
            summary[result.action] += 1
        rejected = summary[Action.REJECTED]
        code = 200 if not rejected else (422 if rejected == len(results) else 207)
        data = {
            "system": system.code,
            "entity": spec.entity_type,
            "summary": summary,
            "results": [r.as_dict() for r in results],
        }
        if key:
            _store_response(request, key, request_hash, spec, system, code, data)
        return Response(data, status=code)


def _stored_response(request: Request, key: str, request_hash: str) -> Response | None:
    stored = IngestRequest.objects.filter(user=request.user, key=key).first()
    if stored is None:
        return None
    if stored.request_hash != request_hash:
        raise IdempotencyConflict(
            "This Idempotency-Key was already used with a different request body.",
            fields={"Idempotency-Key": ["Use a new key for a new request."]},
        )
    return Response(
        stored.response, status=stored.status_code, headers={"Idempotent-Replayed": "true"}
    )


def _store_response(
    request: Request,
    key: str,
    request_hash: str,
    spec: EntitySpec,
    system: SourceSystem,
    code: int,
    data: dict[str, Any],
) -> None:
    try:
        with transaction.atomic():
            IngestRequest.objects.create(
                user=request.user,
                key=key,
                entity_type=spec.entity_type,
                system=system,
                request_hash=request_hash,
                status_code=code,
                response=data,
            )
    except IntegrityError:
        pass  # a concurrent request with the same key stored it first; ours was idempotent


class MatchApi(APIView):
    """Search before create: the golden records a record may be, with scores and evidence.
    Writes nothing, so a CRM can check at intake whether a client already exists."""

    @extend_schema(
        request=MatchInputSerializer,
        parameters=[
            OpenApiParameter(
                "entity", OpenApiTypes.STR, OpenApiParameter.PATH, enum=sorted(ENTITIES)
            )
        ],
        responses={200: MatchResponseSerializer, 400: ERROR},
        tags=["match"],
    )
    def post(self, request: Request, entity: str) -> Response:
        spec = _spec_or_404(entity)
        body = MatchInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            clean = clean_record(spec, body.validated_data["record"], require_source_id=False)
        except RecordInvalid as exc:
            raise ValidationError({"record": exc.errors}) from None
        matches = match_record(spec, clean, system=body.validated_data.get("system"))
        decisions = [m.decision for m in matches]
        outcome = "link" if decisions.count("link") == 1 else ("review" if matches else "new")
        return Response(
            {
                "outcome": outcome,
                "candidates": [
                    {
                        "canonical_id": m.golden.canonical_id,
                        "name": m.golden.name,
                        "probability": round(m.score.probability, 6),
                        "decision": m.decision,
                        "evidence": m.score.evidence,
                        "vetoes": m.score.vetoes,
                    }
                    for m in matches
                ],
            }
        )


def _spec_or_404(entity: str) -> EntitySpec:
    try:
        return entity_spec(entity)
    except KeyError:
        raise NotFound(
            f"Unknown entity {entity!r}; use one of {', '.join(sorted(ENTITIES))}."
        ) from None

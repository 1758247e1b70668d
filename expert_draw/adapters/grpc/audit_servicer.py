"""AuditService: reading the audit log over gRPC (nothing here appends)."""

from __future__ import annotations

import json
import re
import threading
from typing import TYPE_CHECKING

from expert_draw import __version__
from expert_draw.adapters.release import code_digest
from expert_draw.api.v1 import audit_service_pb2 as pb
from expert_draw.api.v1 import audit_service_pb2_grpc as pb_grpc
from expert_draw.core.paging import decode_cursor, effective_page_size, encode_cursor, query_key
from expert_draw.errors import FieldViolation, InvalidRequestError

if TYPE_CHECKING:
    from collections.abc import Iterator

    import grpc

    from expert_draw.adapters.audit import AuditReader, StoredEntry

# At most 18 digits: every such number fits a signed 64-bit database column.
_CHECKPOINT_NAME = re.compile(r"checkpoints/(0|[1-9][0-9]{0,17})")
_ENTRY_NAME = re.compile(r"entries/(0|[1-9][0-9]{0,17})")
_PRINTABLE = re.compile(r"[\x21-\x7e]*")
STREAM_BATCH = 500


def trust_toml(vkey: str) -> str:
    """The service's part of a supervisor's trust.toml."""
    return f"version = 1\nlog_vkey = {json.dumps(vkey)}\n"


def _checkpoint(size: int, note: str) -> pb.Checkpoint:
    return pb.Checkpoint(name=f"checkpoints/{size}", size=size, note=note)


def _entry(entry: StoredEntry) -> pb.AuditEntry:
    return pb.AuditEntry(
        name=f"entries/{entry.seq}",
        seq=entry.seq,
        body=entry.body,
        kind=entry.kind,
        subject=entry.subj,
    )


def _non_negative(value: int, field: str) -> int:
    if value < 0:
        raise InvalidRequestError.field(field, "must not be negative")
    return value


class AuditServicer(pb_grpc.AuditServiceServicer):
    """Serves the log's checkpoints, entries, proofs and live feed."""

    def __init__(
        self, reader: AuditReader, vkey: str, origin: str, poll_seconds: float = 0.2
    ) -> None:
        """Serve ``reader``; ``vkey`` and ``origin`` are what supervisors pin."""
        self._reader = reader
        self._vkey = vkey
        self._origin = origin
        self._poll = poll_seconds
        self._digest = code_digest()

    def GetServiceInfo(
        self, request: pb.GetServiceInfoRequest, context: grpc.ServicerContext
    ) -> pb.GetServiceInfoResponse:
        """Return the origin, the log key and the release."""
        del request, context
        return pb.GetServiceInfoResponse(
            origin=self._origin,
            log_vkey=self._vkey,
            trust_toml=trust_toml(self._vkey),
            release_version=__version__,
            code_digest=self._digest,
            spec_version="EDS-1",
            log_size=self._reader.size(),
        )

    def GetCheckpoint(
        self, request: pb.GetCheckpointRequest, context: grpc.ServicerContext
    ) -> pb.GetCheckpointResponse:
        """Return the checkpoint at a size, or the newest."""
        del context
        size = None
        if request.name:
            match = _CHECKPOINT_NAME.fullmatch(request.name)
            if match is None:
                raise InvalidRequestError.field("name", "expected checkpoints/{size}")
            size = int(match.group(1))
        return pb.GetCheckpointResponse(checkpoint=_checkpoint(*self._reader.checkpoint(size)))

    def ListCheckpoints(
        self, request: pb.ListCheckpointsRequest, context: grpc.ServicerContext
    ) -> pb.ListCheckpointsResponse:
        """List checkpoints by ascending size."""
        del context
        size = effective_page_size(request.page_size)
        min_size = _non_negative(request.min_size, "min_size")
        key = query_key("checkpoints", str(min_size))
        after = decode_cursor(request.page_token, key)
        start = min_size if after is None else after + 1
        rows = self._reader.checkpoints(start, size + 1)
        token = encode_cursor(rows[size - 1][0], key) if len(rows) > size else ""
        return pb.ListCheckpointsResponse(
            checkpoints=[_checkpoint(*row) for row in rows[:size]], next_page_token=token
        )

    def GetEntry(
        self, request: pb.GetEntryRequest, context: grpc.ServicerContext
    ) -> pb.GetEntryResponse:
        """Return one entry with its receipt."""
        del context
        match = _ENTRY_NAME.fullmatch(request.name)
        if match is None:
            raise InvalidRequestError.field("name", "expected entries/{seq}")
        entry, receipt = self._reader.entry_with_receipt(int(match.group(1)))
        return pb.GetEntryResponse(entry=_entry(entry), receipt=receipt.format())

    def ListEntries(
        self, request: pb.ListEntriesRequest, context: grpc.ServicerContext
    ) -> pb.ListEntriesResponse:
        """List entries by ascending seq with optional filters."""
        del context
        size = effective_page_size(request.page_size)
        start = _non_negative(request.start_seq, "start_seq")
        end = _non_negative(request.end_seq, "end_seq") or None
        # Subjects and kinds are printable ASCII in the log (audit-log-v1 §3); anything
        # else matches nothing, and PostgreSQL refuses a NUL in a text parameter.
        violations = [
            FieldViolation(field, f"at most {limit} printable ASCII characters")
            for field, value, limit in (
                ("subject", request.subject, 128),
                ("kind", request.kind, 32),
            )
            if len(value) > limit or _PRINTABLE.fullmatch(value) is None
        ]
        if violations:
            raise InvalidRequestError(violations)
        key = query_key("entries", str(start), str(end), request.subject, request.kind)
        after = decode_cursor(request.page_token, key)
        rows = self._reader.entries(
            start if after is None else after + 1, end, request.subject, request.kind, size + 1
        )
        token = encode_cursor(rows[size - 1].seq, key) if len(rows) > size else ""
        return pb.ListEntriesResponse(
            entries=[_entry(e) for e in rows[:size]], next_page_token=token
        )

    def GetInclusionProof(
        self, request: pb.GetInclusionProofRequest, context: grpc.ServicerContext
    ) -> pb.GetInclusionProofResponse:
        """Return an inclusion proof into a checkpointed tree."""
        del context
        seq = _non_negative(request.seq, "seq")
        tree_size = _non_negative(request.tree_size, "tree_size") or None
        proof, size, note = self._reader.inclusion_proof(seq, tree_size)
        return pb.GetInclusionProofResponse(proof=proof, checkpoint=_checkpoint(size, note))

    def GetConsistencyProof(
        self, request: pb.GetConsistencyProofRequest, context: grpc.ServicerContext
    ) -> pb.GetConsistencyProofResponse:
        """Return a consistency proof between two checkpointed sizes."""
        del context
        first = _non_negative(request.first_size, "first_size")
        second = _non_negative(request.second_size, "second_size") or None
        proof, earlier, later = self._reader.consistency_proof(first, second)
        return pb.GetConsistencyProofResponse(
            proof=proof, first=_checkpoint(*earlier), second=_checkpoint(*later)
        )

    def StreamEntries(
        self, request: pb.StreamEntriesRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.StreamEntriesResponse]:
        """Stream entries and checkpoints from ``start_seq``, then follow the log."""
        cursor = _non_negative(request.start_seq, "start_seq")
        # Woken when the call ends (cancelled, deadline, client gone), so a follower that
        # left frees its worker and its per-client slot at once, not a poll later.
        ended = threading.Event()
        context.add_callback(ended.set)
        while context.is_active() and not ended.is_set():
            entries = self._reader.entries(cursor, None, "", "", STREAM_BATCH)
            if not entries:
                ended.wait(self._poll)
                continue
            last = entries[-1].seq + 1
            checkpoints = {
                s: n for s, n in self._reader.checkpoints(cursor + 1, STREAM_BATCH + 1) if s <= last
            }
            for entry in entries:
                yield pb.StreamEntriesResponse(entry=_entry(entry))
                if entry.seq + 1 in checkpoints:
                    yield pb.StreamEntriesResponse(
                        checkpoint=_checkpoint(entry.seq + 1, checkpoints[entry.seq + 1])
                    )
            cursor = last

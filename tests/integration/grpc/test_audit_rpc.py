"""AuditService over mTLS: what a supervisor and a trading system read and verify."""

from __future__ import annotations

import threading
import tomllib
from typing import TYPE_CHECKING, Any

import grpc
import pytest

from audit_log import checkpoint as cp
from audit_log import merkle, receipt
from audit_log.entry import Entry, Who
from audit_log.note import Verifier
from audit_log.sqlstore import PendingEntry
from expert_draw.adapters.db.engine import write_transaction
from expert_draw.api.v1 import audit_service_pb2 as pb
from expert_draw.api.v1 import audit_service_pb2_grpc as pb_grpc
from tests.integration.grpc.helpers import error_info
from tests.support.service import ORIGIN

if TYPE_CHECKING:
    from collections.abc import Callable

    from cli.server import RunningService

UUID = "0b7f6c2e-8a1d-4c3b-9e2f-5a6b7c8d9e0f"


def add_entries(service: RunningService, request_id: str, count: int) -> None:
    audit = service.audit
    who = Who("admin", "dev:admin", "test-1")
    pending = [
        PendingEntry("expert.delete", f"experts/{UUID}", {"reason": f"{request_id}-{i}"})
        for i in range(count)
    ]
    with write_transaction(audit.engine) as conn:
        audit.append(
            conn, who=who, request_id=request_id, payload={"r": request_id}, pending=pending
        )


@pytest.fixture
def stub(
    service: RunningService, connect: Callable[[int, str | None], grpc.Channel]
) -> pb_grpc.AuditServiceStub:
    return pb_grpc.AuditServiceStub(connect(service.port, "supervisor"))


def vkey(stub: pb_grpc.AuditServiceStub) -> Verifier:
    return Verifier.parse(stub.GetServiceInfo(pb.GetServiceInfoRequest(), timeout=5).log_vkey)


def test_service_info_is_what_supervisors_pin(stub: pb_grpc.AuditServiceStub) -> None:
    info = stub.GetServiceInfo(pb.GetServiceInfoRequest(), timeout=5)
    assert info.origin == ORIGIN
    assert Verifier.parse(info.log_vkey).name == ORIGIN
    assert tomllib.loads(info.trust_toml) == {"version": 1, "log_vkey": info.log_vkey}
    assert len(info.code_digest) == 64
    assert info.spec_version == "EDS-1"
    assert info.log_size >= 3  # log.init and the two classification.load entries


def test_entries_checkpoints_and_proofs_verify(
    service: RunningService, stub: pb_grpc.AuditServiceStub
) -> None:
    add_entries(service, "audit-rpc-1", 3)
    verifier = vkey(stub)
    newest = stub.GetCheckpoint(pb.GetCheckpointRequest(), timeout=5).checkpoint
    head, _ = cp.open_checkpoint(newest.note, ORIGIN, [verifier])
    assert head.size == newest.size
    bodies: list[bytes] = []
    request = pb.ListEntriesRequest(page_size=2)
    while True:
        page = stub.ListEntries(request, timeout=5)
        bodies.extend(e.body for e in page.entries)
        if not page.next_page_token:
            break
        request.page_token = page.next_page_token
    assert len(bodies) >= head.size
    leaves = [merkle.leaf_hash(b) for b in bodies[: head.size]]
    assert merkle.reference_root(leaves) == head.root
    kinds = [Entry.decode(b).kind for b in bodies[:3]]
    assert kinds == ["log.init", "classification.load", "classification.load"]
    loads = stub.ListEntries(
        pb.ListEntriesRequest(kind="classification.load", subject="editions/2018"), timeout=5
    )
    assert [Entry.decode(e.body).data["edition"] for e in loads.entries] == ["2018"]
    got = stub.GetEntry(pb.GetEntryRequest(name="entries/1"), timeout=5)
    receipt.verify(got.receipt, got.entry.body, ORIGIN, [verifier])
    proof = stub.GetInclusionProof(pb.GetInclusionProofRequest(seq=2), timeout=5)
    at = cp.parse_unverified(proof.checkpoint.note)
    merkle.verify_inclusion(2, at.size, leaves[2], list(proof.proof), at.root)
    checkpoints = stub.ListCheckpoints(pb.ListCheckpointsRequest(), timeout=5).checkpoints
    sizes = [c.size for c in checkpoints]
    assert sizes == sorted(sizes)
    assert sizes[0] == 1
    consistency = stub.GetConsistencyProof(pb.GetConsistencyProofRequest(first_size=1), timeout=5)
    first = cp.open_checkpoint(consistency.first.note, ORIGIN, [verifier])[0]
    second = cp.open_checkpoint(consistency.second.note, ORIGIN, [verifier])[0]
    merkle.verify_consistency(1, second.size, list(consistency.proof), first.root, second.root)


@pytest.mark.parametrize(
    ("call", "message", "code", "reason"),
    [
        (
            "GetCheckpoint",
            pb.GetCheckpointRequest(name="checkpoints/999999"),
            grpc.StatusCode.NOT_FOUND,
            "CHECKPOINT_NOT_FOUND",
        ),
        (
            "GetCheckpoint",
            pb.GetCheckpointRequest(name="checkpoint/1"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (
            "GetEntry",
            pb.GetEntryRequest(name="entries/999999"),
            grpc.StatusCode.NOT_FOUND,
            "ENTRY_NOT_FOUND",
        ),
        (
            "GetEntry",
            pb.GetEntryRequest(name="entries/-1"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (
            "GetInclusionProof",
            pb.GetInclusionProofRequest(seq=999999),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (
            "GetInclusionProof",
            pb.GetInclusionProofRequest(seq=0, tree_size=999_999),
            grpc.StatusCode.NOT_FOUND,
            "CHECKPOINT_NOT_FOUND",
        ),
        (
            "GetConsistencyProof",
            pb.GetConsistencyProofRequest(first_size=0),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (
            "ListEntries",
            pb.ListEntriesRequest(start_seq=-5),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        (
            "ListEntries",
            pb.ListEntriesRequest(page_token="zz"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_PAGE_TOKEN",
        ),
        (
            "ListCheckpoints",
            pb.ListCheckpointsRequest(page_size=-1),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_REQUEST",
        ),
        ("GetCheckpoint", pb.GetCheckpointRequest(name="checkpoints/9999999999999999999"), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
        ("GetEntry", pb.GetEntryRequest(name="entries/999999999999999999"), grpc.StatusCode.NOT_FOUND, "ENTRY_NOT_FOUND"),
        ("GetCheckpoint", pb.GetCheckpointRequest(name="checkpoints/999999999999999999"), grpc.StatusCode.NOT_FOUND, "CHECKPOINT_NOT_FOUND"),
        ("GetInclusionProof", pb.GetInclusionProofRequest(seq=0, tree_size=2**63 - 1), grpc.StatusCode.NOT_FOUND, "CHECKPOINT_NOT_FOUND"),
        ("ListEntries", pb.ListEntriesRequest(kind="k" * 33), grpc.StatusCode.INVALID_ARGUMENT, "INVALID_REQUEST"),
    ],
)  # fmt: skip
def test_bad_requests(
    stub: pb_grpc.AuditServiceStub, call: str, message: Any, code: grpc.StatusCode, reason: str
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        getattr(stub, call)(message, timeout=5)
    assert caught.value.code() is code
    assert error_info(caught.value).reason == reason


def test_stream_sends_history_then_live_entries(
    service: RunningService, stub: pb_grpc.AuditServiceStub
) -> None:
    size = stub.GetServiceInfo(pb.GetServiceInfoRequest(), timeout=5).log_size
    stream = stub.StreamEntries(pb.StreamEntriesRequest(start_seq=0), timeout=20)
    seen: list[int] = []
    checkpoints: list[int] = []
    adder = threading.Timer(0.3, add_entries, args=(service, f"live-{size}", 2))
    adder.start()
    try:
        for item in stream:
            if item.HasField("entry"):
                assert item.entry.seq == len(seen)
                seen.append(item.entry.seq)
            else:
                assert item.checkpoint.size == len(seen)
                checkpoints.append(item.checkpoint.size)
            if len(seen) == size + 2 and checkpoints[-1] == size + 2:
                break
    finally:
        stream.cancel()
        adder.join()
    assert checkpoints[0] == 1
    assert size in checkpoints


def test_extreme_but_valid_ranges_are_empty(stub: pb_grpc.AuditServiceStub) -> None:
    page = stub.ListEntries(
        pb.ListEntriesRequest(start_seq=2**63 - 2, end_seq=2**63 - 1), timeout=5
    )
    assert list(page.entries) == []
    assert (
        list(
            stub.ListCheckpoints(
                pb.ListCheckpointsRequest(min_size=2**63 - 1), timeout=5
            ).checkpoints
        )
        == []
    )

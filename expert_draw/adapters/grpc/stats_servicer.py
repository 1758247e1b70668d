"""StatsService: fairness analytics and replay openings for supervisors.

The run is logged (an ``export`` entry) before the first byte of the report is sent;
the report travels in chunks of at most 1 MiB, report.json first, then report.html.
"""

from __future__ import annotations

import hashlib
import time
from typing import TYPE_CHECKING

from expert_draw.adapters.experts import check_request_id
from expert_draw.adapters.grpc import context
from expert_draw.adapters.grpc.draw_servicer import request_ms
from expert_draw.api.v1 import stats_service_pb2 as pb
from expert_draw.api.v1 import stats_service_pb2_grpc as pb_grpc
from expert_draw.errors import FieldViolation, InvalidRequestError, PreconditionError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    import grpc

    from audit_log.entry import Who
    from expert_draw.adapters.openings import ReplayOpenings
    from expert_draw.adapters.stats import FairnessRuns

CHUNK = 1024 * 1024


class StatsServicer(pb_grpc.StatsServiceServicer):
    """Runs the analytics and streams the report."""

    def __init__(
        self, runs: FairnessRuns, who: Callable[[str, str], Who],
        clock_ms: Callable[[], int] = lambda: int(time.time() * 1000),
        openings: ReplayOpenings | None = None,
    ) -> None:  # fmt: skip
        """Serve ``runs`` and ``openings``; ``who`` names a caller in the log."""
        self._runs = runs
        self._openings = openings
        self._who = who
        self._clock_ms = clock_ms

    def RunFairnessAnalysis(
        self, request: pb.RunFairnessAnalysisRequest, context_: grpc.ServicerContext
    ) -> Iterator[pb.RunFairnessAnalysisResponse]:
        """Analyse, log the run, then stream report.json and report.html."""
        problems: list[FieldViolation] = []
        try:
            check_request_id(request.request_id)
        except InvalidRequestError as exc:
            problems.extend(exc.violations)
        start = request_ms(request.start_time, "start_time", problems) if request.HasField(
            "start_time") else None  # fmt: skip
        end = request_ms(request.end_time, "end_time", problems) if request.HasField(
            "end_time") else None  # fmt: skip
        if start is not None and end is not None and end <= start:
            problems.append(FieldViolation("end_time", "must be after start_time"))
        if problems:
            raise InvalidRequestError(problems)
        identity = context.caller()
        run = self._runs.run(
            self._who(identity.principal, str(identity.role)), start_ms=start, end_ms=end,
            request_id=request.request_id, now_ms=self._clock_ms(),
            active=context_.is_active,
        )  # fmt: skip
        digest = hashlib.sha256(run.report_json).digest()
        for name, body in (("report.json", run.report_json), ("report.html", run.report_html)):
            for at in range(0, max(len(body), 1), CHUNK):
                yield pb.RunFairnessAnalysisResponse(
                    file=name, chunk=body[at : at + CHUNK], total_size=len(body),
                    report_sha256=digest, export=run.export, export_seq=run.export_seq,
                )  # fmt: skip

    def ExportReplayOpenings(
        self, request: pb.ExportReplayOpeningsRequest, context_: grpc.ServicerContext
    ) -> Iterator[pb.ExportReplayOpeningsResponse]:
        """Take the openings, log the export, then stream the file."""
        check_request_id(request.request_id)
        if self._openings is None:  # pragma: no cover - wired whenever draws are
            msg = "replay openings are not configured on this service"
            raise PreconditionError(msg, reason="NOT_CONFIGURED")
        identity = context.caller()
        done = self._openings.export(
            self._who(identity.principal, str(identity.role)), request_id=request.request_id,
            active=context_.is_active,
        )  # fmt: skip
        digest = hashlib.sha256(done.body).digest()
        for at in range(0, max(len(done.body), 1), CHUNK):
            yield pb.ExportReplayOpeningsResponse(
                chunk=done.body[at : at + CHUNK], total_size=len(done.body),
                openings_sha256=digest, log_size=done.size, export=done.export,
                export_seq=done.export_seq,
            )  # fmt: skip

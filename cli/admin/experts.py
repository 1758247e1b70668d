"""``expert-draw experts …``: the expert library of a running service (admins, supervisors).

Personal fields are shown masked, as the service returns them; ``get --full`` asks an
admin's full view, which the service logs as a disclosure with the given purpose.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from cli.admin.client import (
    EXIT_RPC_ERROR,
    ClientConfigOption,
    JsonOption,
    ProfileOption,
    TargetOption,
    TimeoutOption,
    connect,
    fail,
    request_metadata,
)

if TYPE_CHECKING:
    from collections.abc import Iterator

    from expert_draw.api.v1 import expert_service_pb2 as pb

app = typer.Typer(
    help="The expert library (综合评标专家库): import, list, get, delete.", no_args_is_help=True
)
_out = Console()
BATCH = 500
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many rows.")]


def _name(value: str) -> str:
    return value if value.startswith("experts/") else f"experts/{value}"


def _stub(channel: Any) -> Any:  # noqa: ANN401 - the generated stub
    from expert_draw.api.v1 import expert_service_pb2_grpc as pb_grpc

    return pb_grpc.ExpertServiceStub(channel)


def _dump(messages: list[Any]) -> None:
    from google.protobuf.json_format import MessageToDict

    rows = [MessageToDict(m, preserving_proto_field_name=True) for m in messages]
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))


def _table(experts: list[pb.Expert]) -> Table:
    table = Table("name", "姓名", "身份证号", "region", "disciplines", "state")
    for e in experts:
        codes = ", ".join(d.rpartition("/")[2] for d in e.disciplines)
        table.add_row(e.name, e.masked.full_name, e.masked.resident_id_number, e.region_code, codes,
                      type(e).State.Name(e.state).removeprefix("STATE_").lower())  # fmt: skip
    return table


@app.command("import")
def import_(
    file: Annotated[Path, typer.Argument(help="CSV or XLSX file (docs/import-format.md).")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row, import nothing.")
    ] = False,
    request_id: Annotated[
        str | None,
        typer.Option(
            help="Idempotency key to retry one import (default: a new one per run; a "
            "second run of the same file changes nothing anyway)."
        ),
    ] = None,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 900.0,
) -> None:
    """Import experts from FILE, all rows or none; a second run of the same file changes nothing."""
    from cli.admin.expert_file import ImportFileError, RowProblem, column_of, read_rows

    with connect(client_config, profile, target) as channel:
        stub = _stub(channel)
        try:
            data = file.read_bytes()
            read = read_rows(file, _current_edition(channel, timeout))
        except OSError as exc:
            fail(f"cannot read {file}: {exc.strerror}")
        except ImportFileError as exc:
            fail(str(exc))
        problems = list(read.problems)
        key = request_id or f"import-{hashlib.sha256(data).hexdigest()[:16]}-{os.urandom(6).hex()}"
        total = len(read.rows) + len({p.row for p in problems})
        if not dry_run and not problems:
            # The import checks every row itself and writes nothing if one is bad: send
            # once, and ask for the full list of problems only when it refuses.
            done = _try_import(stub, read.rows, key, timeout)
            if done is not None:
                typer.echo(
                    f"imported {done.created_count} new experts; "
                    f"{done.unchanged_count} rows unchanged"
                )
                return
        checked = _send(stub, read.rows, key, validate_only=True, timeout=timeout, label="checking")
        problems += [
            RowProblem(
                p.row,
                column_of(p.field, employer_first=p.row in read.employer_first),
                p.description,
            )
            for p in checked.problems
        ]
        if problems or checked.problem_count > len(checked.problems):
            _report(problems, checked.problem_count + len(read.problems), total)
            raise typer.Exit(EXIT_RPC_ERROR)
        counts = f"{checked.created_count} new, {checked.unchanged_count} unchanged"
        if not dry_run:  # refused, yet every row checks out now: the library changed meanwhile
            fail(
                f"the import was refused but its rows now check out ({counts}); run it again",
                EXIT_RPC_ERROR,
            )
        typer.echo(f"{total} rows checked: {counts}; nothing imported (--dry-run)")


def _current_edition(channel: Any, timeout: float) -> str:  # noqa: ANN401 - a grpc.Channel
    """The edition the service draws from (bare codes in the file are of it)."""
    from expert_draw.api.v1 import classification_service_pb2 as cpb
    from expert_draw.api.v1 import classification_service_pb2_grpc as cpb_grpc

    editions = (
        cpb_grpc.ClassificationServiceStub(channel)
        .ListEditions(
            cpb.ListEditionsRequest(page_size=1), timeout=timeout, metadata=request_metadata()
        )
        .editions
    )
    return str(editions[0].name).removeprefix("editions/")


def _try_import(
    stub: Any,  # noqa: ANN401 - the generated stub
    rows: list[tuple[int, pb.Expert]],
    key: str,
    timeout: float,
) -> pb.ImportExpertsResponse | None:
    """Import; None when the service refused rows (nothing was written)."""
    import grpc
    from google.rpc import error_details_pb2
    from grpc_status import rpc_status

    try:
        return _send(stub, rows, key, validate_only=False, timeout=timeout, label="importing")
    except grpc.RpcError as error:
        status = rpc_status.from_call(error)
        for detail in status.details if status else ():
            bad = error_details_pb2.BadRequest()
            if detail.Unpack(bad) and any(
                v.field.startswith("rows[") for v in bad.field_violations
            ):
                return None
        raise


def _send(stub: Any, rows: list[tuple[int, pb.Expert]], key: str, *, validate_only: bool,  # noqa: ANN401
          timeout: float, label: str) -> pb.ImportExpertsResponse:  # fmt: skip
    from expert_draw.api.v1 import expert_service_pb2 as pb

    with Progress(
        f"[bold]{label}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), transient=True
    ) as bar:
        task = bar.add_task(label, total=len(rows))

        def messages() -> Iterator[pb.ImportExpertsRequest]:
            for start in range(0, len(rows), BATCH):
                chunk = rows[start : start + BATCH]
                # Rows are consecutive inside a message: a gap (a skipped blank or bad
                # row) starts a new message.
                for run in _runs(chunk):
                    yield pb.ImportExpertsRequest(
                        request_id=key, validate_only=validate_only,
                        first_row=run[0][0], experts=[e for _, e in run],
                    )  # fmt: skip
                bar.advance(task, len(chunk))

        response: pb.ImportExpertsResponse = stub.ImportExperts(
            messages(), timeout=timeout, metadata=request_metadata()
        )
    return response


def _runs(chunk: list[tuple[int, pb.Expert]]) -> list[list[tuple[int, pb.Expert]]]:
    runs: list[list[tuple[int, pb.Expert]]] = []
    for number, expert in chunk:
        if runs and runs[-1][-1][0] + 1 == number:
            runs[-1].append((number, expert))
        else:
            runs.append([(number, expert)])
    return runs


def _report(problems: list[Any], count: int, total: int) -> None:
    problems.sort(key=lambda p: (p.row, p.column))
    table = Table(
        "row", "column", "problem", title=f"{count} problems in {total} rows; nothing imported"
    )
    for p in problems[:2000]:
        table.add_row(str(p.row), p.column, p.description)
    Console(stderr=True).print(table)
    if count > min(len(problems), 2000):
        typer.echo(f"… and {count - min(len(problems), 2000)} more", err=True)


@app.command("list")
def list_(
    region: Annotated[str, typer.Option(help="Region code prefix: 2, 4 or 6 digits.")] = "",
    discipline: Annotated[str, typer.Option(help="Discipline code; its subtree matches.")] = "",
    edition: Annotated[
        str, typer.Option("--edition", "-e", help="Edition of --discipline.")
    ] = "2018",
    deleted: Annotated[bool, typer.Option("--deleted", help="List deleted experts.")] = False,
    legacy: Annotated[
        bool, typer.Option("--legacy", help="Only experts holding legacy-edition codes only.")
    ] = False,
    status: Annotated[
        str,
        typer.Option(
            help="Only experts with this status now: active, suspended, on_leave, "
            "blacklisted, retired, deceased."
        ),
    ] = "",
    limit: LimitOption = 200,
    as_json: JsonOption = False,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """List experts (masked), filtered by region, discipline subtree and state."""
    from expert_draw.api.v1 import expert_service_pb2 as pb

    request = pb.ListExpertsRequest(
        region_prefix=region, page_size=min(limit, 1000),
        discipline=f"editions/{edition}/disciplines/{discipline}" if discipline else "",
        state=pb.Expert.STATE_DELETED if deleted else pb.Expert.STATE_ACTIVE,
        legacy_only=legacy,
    )  # fmt: skip
    if status:
        try:
            request.current_status = pb.StatusPeriod.Status.Value(f"STATUS_{status.upper()}")
        except ValueError:
            fail(f"--status: unknown status {status!r}")
    found: list[pb.Expert] = []
    total = 0
    with connect(client_config, profile, target) as channel:
        stub = _stub(channel)
        while True:
            page = stub.ListExperts(request, timeout=timeout, metadata=request_metadata())
            found += page.experts
            total = page.total_size
            if not page.next_page_token or len(found) >= limit:
                break
            request.page_token = page.next_page_token
    found = found[:limit]
    if as_json:
        _dump(found)
    else:
        _out.print(_table(found))
        _out.print(f"{len(found)} of {total} experts")


@app.command("get")
def get(
    name: Annotated[str, typer.Argument(help="experts/{uuid} or the UUID.")],
    as_json: JsonOption = False,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Show one expert (personal fields masked)."""
    from expert_draw.api.v1 import expert_service_pb2 as pb

    request = pb.GetExpertRequest(name=_name(name))
    with connect(client_config, profile, target) as channel:
        expert = (
            _stub(channel).GetExpert(request, timeout=timeout, metadata=request_metadata()).expert
        )
    if as_json:
        _dump([expert])
    else:
        _out.print(_table([expert]))


@app.command("reveal")
def reveal(
    name: Annotated[str, typer.Argument(help="experts/{uuid} or the UUID.")],
    purpose: Annotated[str, typer.Option(help="Why the personal fields are read (logged).")],
    as_json: JsonOption = False,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Show one expert's personal fields in clear (admins; every call is logged)."""
    from expert_draw.api.v1 import expert_service_pb2 as pb

    request = pb.RevealExpertRequest(name=_name(name), purpose=purpose)
    with connect(client_config, profile, target) as channel:
        found = _stub(channel).RevealExpert(request, timeout=timeout, metadata=request_metadata())
    if as_json:
        _dump([found])
        return
    table = Table("name", "姓名", "身份证号", "phone", "email", "access logged at")
    table.add_row(found.name, found.full_name, found.resident_id_number, found.phone,
                  found.email, f"seq {found.access_seq}")  # fmt: skip
    _out.print(table)


@app.command("delete")
def delete(
    name: Annotated[str, typer.Argument(help="experts/{uuid} or the UUID.")],
    reason: Annotated[str, typer.Option(help="Why the expert leaves the library (logged).")],
    etag: Annotated[str, typer.Option(help="Refuse if the record changed since this etag.")] = "",
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Soft-delete an expert (the record and its history stay)."""
    _set_state("Delete", "deleted", name, reason, etag, (client_config, profile, target), timeout)


@app.command("undelete")
def undelete(
    name: Annotated[str, typer.Argument(help="experts/{uuid} or the UUID.")],
    reason: Annotated[str, typer.Option(help="Why the expert returns (logged).")],
    etag: Annotated[str, typer.Option(help="Refuse if the record changed since this etag.")] = "",
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 30.0,
) -> None:
    """Restore a soft-deleted expert."""
    _set_state(
        "Undelete", "restored", name, reason, etag, (client_config, profile, target), timeout
    )


def _set_state(
    verb: str,
    done: str,
    name: str,
    reason: str,
    etag: str,
    where: tuple[Path | None, str | None, str | None],
    timeout: float,
) -> None:
    """Call ``{verb}Expert`` with a fresh request id and report the new etag."""
    from expert_draw.api.v1 import expert_service_pb2 as pb

    request_class = getattr(pb, f"{verb}ExpertRequest")
    request = request_class(
        name=_name(name), reason=reason, etag=etag,
        request_id=f"{verb.lower()}-{os.urandom(8).hex()}",
    )  # fmt: skip
    with connect(*where) as channel:
        call = getattr(_stub(channel), f"{verb}Expert")
        expert = call(request, timeout=timeout, metadata=request_metadata()).expert
    typer.echo(f"{done} {expert.name} (etag {expert.etag})")

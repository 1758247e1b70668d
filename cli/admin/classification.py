"""``expert-draw classification …``: the discipline standard from a running service."""

from __future__ import annotations

import json
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from cli.admin.client import (
    ClientConfigOption,
    JsonOption,
    ProfileOption,
    TargetOption,
    TimeoutOption,
    connect,
    request_metadata,
)

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from google.protobuf.message import Message

    from expert_draw.api.v1 import classification_service_pb2 as pb
    from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc

app = typer.Typer(
    help="The national discipline standard (发改法规〔2018〕316号): editions, codes, search.",
    no_args_is_help=True,
)
EditionOption = Annotated[
    str | None,
    typer.Option("--edition", "-e", help="Edition id, e.g. 2018 (default: the current edition)."),
]
LimitOption = Annotated[int, typer.Option("--limit", min=1, help="Show at most this many rows.")]
_out = Console()


@dataclass(frozen=True, slots=True)
class _Session:
    stub: pb_grpc.ClassificationServiceStub
    timeout: float

    def call(self, method: str, request: Message) -> Any:  # noqa: ANN401 - generated types
        return getattr(self.stub, method)(
            request, timeout=self.timeout, metadata=request_metadata()
        )

    def edition_name(self, edition: str | None) -> str:
        if edition is not None:
            return f"editions/{edition}"
        from expert_draw.api.v1 import classification_service_pb2 as pb

        editions = self.call("ListEditions", pb.ListEditionsRequest(page_size=1)).editions
        return str(editions[0].name)


@contextmanager
def _session(
    client_config: Path | None, profile: str | None, target: str | None, timeout: float
) -> Iterator[_Session]:
    from expert_draw.api.v1 import classification_service_pb2_grpc as pb_grpc

    with connect(client_config, profile, target) as channel:
        yield _Session(pb_grpc.ClassificationServiceStub(channel), timeout)


def _print_json(messages: list[Message]) -> None:
    from google.protobuf.json_format import MessageToDict

    rows = [MessageToDict(m, preserving_proto_field_name=True) for m in messages]
    typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))


def _pages(session: _Session, method: str, request: Message, field: str, limit: int) -> list[Any]:
    items: list[Any] = []
    while True:
        response = session.call(method, request)
        items.extend(getattr(response, field))
        if not response.next_page_token or len(items) >= limit:
            return items[:limit]
        request.page_token = response.next_page_token  # type: ignore[attr-defined]


def _discipline_table(disciplines: list[pb.Discipline], match: list[str] | None = None) -> Table:
    table = Table("code", "name", "level", "path", *(("match",) if match else ()))
    for i, d in enumerate(disciplines):
        table.add_row(
            d.code,
            d.display_name,
            str(d.level),
            d.path_display_name,
            *((match[i],) if match else ()),
        )
    return table


@app.command("editions")
def editions(
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """List the loaded editions, the current one first."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    with _session(client_config, profile, target, timeout) as session:
        found = _pages(session, "ListEditions", pb.ListEditionsRequest(), "editions", 1000)
    if as_json:
        _print_json(found)
        return
    table = Table("edition", "state", "disciplines", "levels 0/1/2/3", "defects", "table sha256")
    for e in found:
        state = pb.Edition.State.Name(e.state).removeprefix("STATE_").lower()
        levels = "/".join(str(n) for n in e.level_counts)
        table.add_row(e.name.removeprefix("editions/"), state, str(e.discipline_count), levels,
                      str(len(e.defects)), f"sha256:{e.table_sha256[:16]}…")  # fmt: skip
    _out.print(table)


@app.command("edition")
def edition(
    edition_id: Annotated[str, typer.Argument(help="Edition id, e.g. 2018 or 2010-trial.")],
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Show one edition: its digest, counts and defect report."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    with _session(client_config, profile, target, timeout) as session:
        found = session.call(
            "GetEdition", pb.GetEditionRequest(name=f"editions/{edition_id}")
        ).edition
    if as_json:
        _print_json([found])
        return
    _out.print(f"[bold]{found.name}[/bold]  {found.display_name}")
    _out.print(f"table sha256:{found.table_sha256}")
    _out.print(f"rows {found.row_count}, usable disciplines {found.discipline_count}")
    table = Table("defect", "detail")
    for defect in found.defects:
        table.add_row(defect.text, defect.detail)
    _out.print(table if found.defects else "no defects")


@app.command("get")
def get(
    code: Annotated[str, typer.Argument(help="Discipline code, e.g. A080105.")],
    edition: EditionOption = None,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Show one discipline with its path from the root."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    with _session(client_config, profile, target, timeout) as session:
        name = f"{session.edition_name(edition)}/disciplines/{code.upper()}"
        found = session.call("GetDiscipline", pb.GetDisciplineRequest(name=name)).discipline
    if as_json:
        _print_json([found])
        return
    _out.print(_discipline_table([found]))


@app.command("list")
def list_(
    under: Annotated[
        str | None, typer.Option("--under", help="Only disciplines below this code.")
    ] = None,
    children: Annotated[
        bool, typer.Option("--children", help="Only direct children (of --under, or the 门类).")
    ] = False,
    edition: EditionOption = None,
    limit: LimitOption = 200,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """List disciplines in code order (the tree, depth first)."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    with _session(client_config, profile, target, timeout) as session:
        parent = session.edition_name(edition)
        request = pb.ListDisciplinesRequest(
            parent=parent,
            ancestor=f"{parent}/disciplines/{under.upper()}" if under else "",
            children_only=children,
            page_size=min(limit, 1000),
        )
        found = _pages(session, "ListDisciplines", request, "disciplines", limit)
    if as_json:
        _print_json(found)
        return
    _out.print(_discipline_table(found))


@app.command("search")
def search(
    query: Annotated[
        list[str], typer.Argument(help="Code prefix or Chinese terms, e.g. 电气 or 建筑 电气.")
    ],
    edition: EditionOption = None,
    limit: LimitOption = 50,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Search disciplines by code prefix or by name; best matches first."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    with _session(client_config, profile, target, timeout) as session:
        request = pb.SearchDisciplinesRequest(
            parent=session.edition_name(edition), query=" ".join(query), page_size=min(limit, 1000)
        )
        found = _pages(session, "SearchDisciplines", request, "results", limit)
    if as_json:
        _print_json(found)
        return
    kinds = [
        pb.DisciplineMatch.MatchKind.Name(r.match_kind).removeprefix("MATCH_KIND_").lower()
        for r in found
    ]
    _out.print(_discipline_table([r.discipline for r in found], kinds))
    if not found:
        _out.print("no match")


@app.command("suggest")
def suggest(
    code: Annotated[str, typer.Argument(help="The discipline code to map, e.g. A0101.")],
    edition: Annotated[
        str, typer.Option("--edition", "-e", help="Its edition (default: the 2010 trial).")
    ] = "2010-trial",
    to: Annotated[
        str | None, typer.Option("--to", help="The edition to map into (default: current).")
    ] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, max=20, help="Suggestions.")] = 5,
    client_config: ClientConfigOption = None,
    profile: ProfileOption = None,
    target: TargetOption = None,
    timeout: TimeoutOption = 10.0,
    as_json: JsonOption = False,
) -> None:
    """Suggest codes of the current edition for a legacy code (suggestions only)."""
    from expert_draw.api.v1 import classification_service_pb2 as pb

    request = pb.SuggestDisciplineMappingsRequest(
        name=f"editions/{edition}/disciplines/{code.upper()}",
        target_edition=f"editions/{to}" if to else "",
        max_suggestions=limit,
    )
    with _session(client_config, profile, target, timeout) as session:
        found = session.call("SuggestDisciplineMappings", request)
    if as_json:
        _print_json([found])
        return
    _out.print(f"{found.source.code} {found.source.path_display_name} ({edition}) →")
    _out.print(
        _discipline_table(
            [s.discipline for s in found.suggestions], [f"{s.score:.2f}" for s in found.suggestions]
        )
    )

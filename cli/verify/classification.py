"""``expert-draw classification validate FILE``: check an edition table offline.

An operator runs it on the official table before configuring it. Exit 0: no defects;
3: defects found (the table loads, with the rows the report names repaired or skipped);
4: the file is unreadable or not an edition table.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from classification import CodeError, EditionFormatError, read_edition

EXIT_CLEAN = 0
EXIT_DEFECTS = 3
EXIT_UNREADABLE = 4


def validate(
    file: Annotated[
        Path, typer.Argument(help="Edition table, CSV with code,name,level,parent_code.")
    ],
    edition_id: Annotated[
        str, typer.Option("--edition-id", help="Edition id to load it as, e.g. 2018.")
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON report.")] = False,
) -> None:
    """Validate an edition table offline and print its defect report."""
    try:
        result = read_edition(file, edition_id)
    except OSError as exc:
        typer.echo(f"expert-draw: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    except (EditionFormatError, CodeError) as exc:
        typer.echo(f"expert-draw: {file}: {exc}", err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    counts = result.edition.level_counts()
    if as_json:
        report = {
            "edition": edition_id,
            "table_sha256": result.digest,
            "rows": result.rows,
            "disciplines": len(result.edition),
            "level_counts": list(counts),
            "defects": [{"text": str(d), "detail": d.detail} for d in result.defects],
        }
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
    else:
        typer.echo(f"edition {edition_id}: table sha256:{result.digest}")
        typer.echo(f"rows {result.rows}, usable disciplines {len(result.edition)} "
                   f"(levels 0/1/2/3: {'/'.join(map(str, counts))})")  # fmt: skip
        typer.echo(f"defects: {len(result.defects)}")
        for defect in result.defects:
            typer.echo(f"  {defect}  {defect.detail}")
    raise typer.Exit(EXIT_DEFECTS if result.defects else EXIT_CLEAN)

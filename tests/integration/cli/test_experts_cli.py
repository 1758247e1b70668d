"""`expert-draw experts …` against a service set up as `make serve` does."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

from tests.integration.cli.conftest import client_args, run
from tests.support import experts as sample

if TYPE_CHECKING:
    from cli.server import RunningService

SAMPLE = Path(__file__).resolve().parents[3] / "docs" / "samples" / "experts-import.csv"
HEADER = SAMPLE.read_text(encoding="utf-8").splitlines()[0]


def test_import_is_all_or_nothing_and_idempotent(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    args = client_args(dev_service)
    first = run("experts", "import", str(SAMPLE), *args)
    assert first.exit_code == 0, first.output
    again = run("experts", "import", str(SAMPLE), *args)
    assert again.exit_code == 0, again.output
    assert "imported 0 new experts; 3 rows unchanged" in again.output
    listed = run("experts", "list", "--region", "1201", "--json", *args)
    rows = json.loads(listed.stdout)
    assert {r["masked"]["full_name"] for r in rows} >= {"张**", "李**"}
    assert all("*" in r["masked"]["resident_id_number"] for r in rows)
    assert all("full_name" not in r for r in rows)


def test_every_problem_is_reported_by_row_and_column(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    good = lines[1].replace(lines[1].split(",")[1], sample.resident_id(801, region="120101"))
    bad_id = good.replace(sample.resident_id(801, region="120101"), "120101196804150037")
    bad_date = good.replace("2006-12-20", "2006-13-20").replace(
        sample.resident_id(801, region="120101"), sample.resident_id(802, region="120101")
    )
    bad_code = good.replace("A010101;A0101", "A01;Z9").replace(
        sample.resident_id(801, region="120101"), sample.resident_id(803, region="120101")
    )
    duplicate = good
    path = tmp_path / "bad.csv"
    rows = [HEADER, good, bad_id, bad_date, bad_code, duplicate]
    path.write_text("".join(f"{row}\n" for row in rows), encoding="utf-8")
    result = run("experts", "import", str(path), *client_args(dev_service))
    assert result.exit_code == 1, result.output
    text = result.output
    pairs = set(re.findall(r"│\s*(\d+)\s*│\s*([a-z_]+)\s*│", text))
    assert pairs == {("3", "resident_id_number"), ("4", "title_date"), ("5", "disciplines"),
                     ("6", "resident_id_number")}, text  # fmt: skip
    assert "120101196804150037" not in text
    # Nothing from this file reached the library, not even the good row.
    listed = run("experts", "list", "--region", "120101", "--json", *client_args(dev_service))
    assert (
        sample.resident_id(801, region="120101")[:6]
        + "*" * 10
        + sample.resident_id(801, region="120101")[-2:]
        not in listed.stdout
    )


def test_bad_files_are_usage_errors(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    args = client_args(dev_service)
    wrong = tmp_path / "x.txt"
    wrong.write_text("x", encoding="utf-8")
    assert run("experts", "import", str(wrong), *args).exit_code == 4
    header = tmp_path / "h.csv"
    header.write_text(HEADER.replace("full_name", "fullname") + "\n", encoding="utf-8")
    result = run("experts", "import", str(header), *args)
    assert result.exit_code == 4
    assert "unknown columns ['fullname']" in result.output
    assert "missing columns ['full_name']" in result.output
    assert run("experts", "import", str(tmp_path / "missing.csv"), *args).exit_code == 4


def _names(args: list[str], *extra: str) -> set[str]:
    listed = run("experts", "list", "--region", "120101", "--json", *extra, *args)
    return {r["name"] for r in json.loads(listed.stdout)}


def test_dry_run_get_reveal_delete_undelete(
    dev_service: tuple[RunningService, Path], tmp_path: Path
) -> None:
    args = client_args(dev_service)
    lines = SAMPLE.read_text(encoding="utf-8").splitlines()
    number = sample.resident_id(804, region="120101")
    path = tmp_path / "one.csv"
    path.write_text(
        HEADER + "\n" + lines[1].replace(lines[1].split(",")[1], number) + "\n", encoding="utf-8"
    )
    dry = run("experts", "import", str(path), "--dry-run", *args)
    assert "1 rows checked: 1 new, 0 unchanged; nothing imported" in dry.output
    before = _names(args)
    assert run("experts", "import", str(path), *args).exit_code == 0
    [mine] = _names(args) - before
    shown = json.loads(run("experts", "get", mine, "--json", *args).stdout)
    assert shown[0]["masked"]["resident_id_number"] == number[:6] + "*" * 11 + number[-1]
    assert run("experts", "reveal", mine, *args).exit_code == 2  # --purpose is required
    revealed = json.loads(
        run("experts", "reveal", mine, "--purpose", "核对身份", "--json", *args).stdout
    )
    assert revealed[0]["resident_id_number"] == number
    assert int(revealed[0]["access_seq"]) > 0
    supervisor = run(
        "experts", "reveal", mine, "--purpose", "x", *client_args(dev_service, "supervisor")
    )
    assert supervisor.exit_code == 1
    assert "ROLE_NOT_ALLOWED" in supervisor.output
    deleted = run("experts", "delete", mine.removeprefix("experts/"), "--reason", "测试删除", *args)
    assert deleted.exit_code == 0, deleted.output
    assert 'etag W/"2"' in deleted.output
    assert mine in _names(args, "--deleted")
    restored = run("experts", "undelete", mine, "--reason", "误删恢复", "--etag", 'W/"2"', *args)
    assert restored.exit_code == 0, restored.output
    assert mine in _names(args)


def test_legacy_experts_and_code_suggestions(dev_service: tuple[RunningService, Path]) -> None:
    args = client_args(dev_service)
    assert (
        run("experts", "import", str(SAMPLE), *args).exit_code == 0
    )  # row 4 holds 2010-trial:A01 only
    legacy = run("experts", "list", "--legacy", "--json", *args)
    assert [r["masked"]["full_name"] for r in json.loads(legacy.stdout)] == ["王*"]
    table = run("experts", "list", "--legacy", *args)
    assert "1 of 1 experts" in table.output
    assert (
        run("experts", "list", "--status", "suspended", "--legacy", "--json", *args).stdout.strip()
        == "[]"
    )
    assert run("experts", "list", "--status", "sleepy", *args).exit_code == 4
    suggested = run("classification", "suggest", "A01", "--json", *args)
    assert suggested.exit_code == 0, suggested.output
    [found] = json.loads(suggested.stdout)
    assert found["source"]["code"] == "A01"
    assert found["suggestions"][0]["discipline"]["name"].startswith("editions/2018/")

"""The fairness report in a real browser: headless Chromium parses, lays out and paints it.

The page is the demo platform's report (``scripts/fairness_demo.py``: real EDS-1 draws,
one injected requester who re-draws until a friend is seated), written to a file and
opened by ``chromium --headless`` as a supervisor would open it. What this proves:

- Chromium decodes it as UTF-8 and shows the Chinese title;
- the findings table, as the browser parsed it, has one row per finding and names the
  injected anomaly (``ts-qingyuan`` steering ``E007``, and its re-draw rate);
- the tables hold as many rows as the report model (experts, months, trading systems,
  projects, steering pairs, policy keys): no markup error swallowed or split a table;
- every plot is an inline ``<svg>`` element (an ``SVGSVGElement`` in the DOM) with drawn
  paths, laid out with a non-empty box inside the page width, every ``<use>`` resolving;
- the page needs no network: no http(s) URL in it, no script of its own, and the
  browser fetched no subresource (resource timing is empty);
- a screenshot is the requested size, not blank, and paints the flagged rows.

The layout checks run a probe script appended to a copy of the page (the report itself
has none) that writes its measurements into the DOM that ``--dump-dom`` prints.
Skipped when Chromium is not installed, unless ``EXPERT_DRAW_REQUIRE_BROWSER=1`` (CI),
which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import re
import struct
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from matplotlib import image

from scripts import fairness_demo as demo

if TYPE_CHECKING:
    from pathlib import Path

    from expert_draw.core.fairness import FairnessReport

SIZE = (1280, 900)
TEXT_TAGS = frozenset({"title", "h2", "h3", "td", "pre"})
FLAG_ROW = (0xFD, 0xE8, 0xE8)  # tr.flag td background in the report's CSS
PROBE = """<script>(() => {
  const width = document.documentElement.clientWidth;
  const svgs = [...document.querySelectorAll("figure > svg")].map((s) => {
    const box = s.getBoundingClientRect();
    const drawn = s.getBBox();
    const uses = [...s.querySelectorAll("use")];
    return {
      svg: s instanceof SVGSVGElement, width: box.width, height: box.height,
      right: box.right, drawnWidth: drawn.width, drawnHeight: drawn.height,
      paths: s.querySelectorAll("path").length, uses: uses.length,
      dangling: uses.filter((u) => !document.getElementById(
        (u.getAttribute("xlink:href") || u.getAttribute("href") || "").slice(1))).length,
    };
  });
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify({
    charset: document.characterSet, title: document.title, width, svgs,
    scrollWidth: document.documentElement.scrollWidth,
    resources: performance.getEntriesByType("resource").map((e) => e.name),
  });
  document.body.append(out);
})();</script>"""


@dataclass
class Table:
    """A table as the browser serialised it: the heading above it, its body rows."""

    heading: str
    rows: list[list[str]] = field(default_factory=list)
    flagged: list[bool] = field(default_factory=list)


class Dom(HTMLParser):
    """The parts of the dumped DOM the tests look at."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.title = ""
        self.heading = ""
        self.tables: list[Table] = []
        self.svgs: list[dict[str, int]] = []
        self.probe = ""
        self._svg_depth = 0
        self._text: list[str] | None = None
        self._tbody = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "svg":
            self._svg_depth += 1
            if self._svg_depth == 1:
                self.svgs.append({})
            return
        if self._svg_depth:
            self.svgs[-1][tag] = self.svgs[-1].get(tag, 0) + 1
            return
        a = dict(attrs)
        if tag == "table":
            self.tables.append(Table(self.heading))
        elif tag == "tbody":
            self._tbody = True
        elif tag == "tr" and self._tbody:
            self.tables[-1].rows.append([])
            self.tables[-1].flagged.append("flag" in (a.get("class") or "").split())
        elif tag in TEXT_TAGS:
            self._text = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._svg_depth -= 1
        elif tag == "tbody":
            self._tbody = False
        elif self._text is not None and not self._svg_depth and tag in TEXT_TAGS:
            text = "".join(self._text).strip()
            self._text = None
            if tag == "title":
                self.title = text
            elif tag in {"h2", "h3"}:
                self.heading = text
            elif tag == "td" and self._tbody:
                self.tables[-1].rows[-1].append(text)
            elif tag == "pre":
                self.probe = text

    def handle_data(self, data: str) -> None:
        if self._text is not None and not self._svg_depth:
            self._text.append(data)

    def table(self, heading: str) -> Table:
        return next(t for t in self.tables if t.heading == heading)


@pytest.fixture(scope="module")
def browser() -> str:
    binary = demo.find_chromium()
    if binary is None:
        why = "chromium is not installed (apt-get install -y chromium)"
        if os.environ.get("EXPERT_DRAW_REQUIRE_BROWSER") == "1":
            pytest.fail(f"EXPERT_DRAW_REQUIRE_BROWSER=1 but {why}")
        pytest.skip(f"{why}; EXPERT_DRAW_REQUIRE_BROWSER=1 makes this a failure")
    return binary


@pytest.fixture(scope="module")
def report() -> FairnessReport:
    return demo.build_report()


@pytest.fixture(scope="module")
def page(report: FairnessReport) -> str:
    return demo.build_html(report)


@pytest.fixture(scope="module")
def written(page: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fairness-browser") / "report.html"
    path.write_text(page, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def dom(browser: str, page: str, written: Path) -> Dom:
    probed = written.with_name("probed.html")
    probed.write_text(page.replace("</body>", PROBE + "</body>"), encoding="utf-8")
    dumped = demo.chromium(
        browser, f"--window-size={SIZE[0]},{SIZE[1]}", "--dump-dom", probed.as_uri()
    )
    parsed = Dom()
    parsed.feed(dumped.stdout.decode("utf-8"))
    parsed.close()
    assert parsed.probe, "the probe script did not run"
    return parsed


@pytest.fixture(scope="module")
def probe(dom: Dom) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(dom.probe)
    return result


def test_the_page_references_nothing_outside_itself(page: str) -> None:
    assert re.findall(r"https?://", page, flags=re.IGNORECASE) == []
    assert "<script" not in page.lower()
    assert "<link" not in page.lower()
    assert "@import" not in page
    # the only references are fragments of the inline SVG (glyphs, markers, clip paths)
    for ref in re.findall(r'(?:href|src)="([^"]*)"', page):
        assert ref.startswith("#"), ref
    assert all(u.startswith("#") for u in re.findall(r"url\(([^)]*)\)", page))


def test_the_browser_fetched_nothing(probe: dict[str, Any]) -> None:
    assert probe["resources"] == []


def test_title_decoded_as_utf8(dom: Dom, probe: dict[str, Any]) -> None:
    assert probe["charset"] == "UTF-8"
    assert dom.title == probe["title"] == demo.TITLE


def test_findings_name_the_injected_anomaly(dom: Dom, report: FairnessReport) -> None:
    findings = dom.table("发现 Findings")
    assert len(findings.rows) == len(report.findings)
    assert all(findings.flagged)
    named = {(row[0], row[1]) for row in findings.rows}
    assert named == {
        ("steering", f"{demo.ANOMALY_REQUESTER} / {demo.ANOMALY_EXPERT}"),
        ("redraw_rate", demo.ANOMALY_REQUESTER),
    }
    steering = dom.table("Steering (re-draw until an expert is seated)")
    assert len(steering.rows) == len(report.redraws.steering.rows)
    flagged = [row[:2] for row, f in zip(steering.rows, steering.flagged, strict=True) if f]
    assert flagged == [[demo.ANOMALY_REQUESTER, demo.ANOMALY_EXPERT]]
    rates = dom.table("重新抽取 Re-draws")
    assert [row[0] for row, f in zip(rates.rows, rates.flagged, strict=True) if f] == [
        demo.ANOMALY_REQUESTER
    ]


def test_tables_have_the_rows_of_the_report(dom: Dom, report: FairnessReport) -> None:
    p = report.platform
    expected = {
        "All experts": len(report.selection.experts),
        "重新抽取 Re-draws": len(report.redraws.requesters),
        "按月 Per month": len(p.months),
        "按专业 Per discipline": len(p.disciplines),
        "按交易系统 Per trading system": len(p.requesters),
        "按项目 Per project": len(p.projects),
        "阈值 Policy": len(report.policy.to_mapping()),
    }
    assert {h: len(dom.table(h).rows) for h in expected} == expected
    assert len(report.selection.experts) == len(demo.EXPERTS)
    months = dom.table("按月 Per month")
    assert [row[0] for row in months.rows] == [m.period for m in p.months]
    assert [int(row[1]) for row in months.rows] == [m.draws for m in p.months]
    widths = {len(row) for t in dom.tables for row in t.rows}
    assert 0 not in widths


def test_every_plot_is_a_drawn_inline_svg(dom: Dom, page: str, probe: dict[str, Any]) -> None:
    figures = page.count("<figure>")
    assert figures >= 6
    assert len(dom.svgs) == len(probe["svgs"]) == figures
    for parsed, laid_out in zip(dom.svgs, probe["svgs"], strict=True):
        assert parsed.get("path", 0) > 10, parsed
        assert laid_out["svg"], "not an SVG element: parsed as unknown HTML"
        assert laid_out["width"] > 300, laid_out
        assert laid_out["height"] > 150, laid_out
        assert laid_out["right"] <= probe["width"], laid_out
        assert laid_out["drawnWidth"] > 100, laid_out
        assert laid_out["drawnHeight"] > 100, laid_out
        assert laid_out["dangling"] == 0, laid_out
    assert probe["scrollWidth"] <= probe["width"], "something is wider than the page"


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_screenshot_is_the_requested_size_and_not_blank(
    browser: str, written: Path, tmp_path: Path
) -> None:
    png = tmp_path / "report.png"
    demo.screenshot(written, png, SIZE, browser)
    assert _png_size(png.read_bytes()) == SIZE
    pixels = np.rint(image.imread(png)[..., :3] * 255).astype(np.uint8)
    assert pixels.shape == (SIZE[1], SIZE[0], 3)
    flat = pixels.reshape(-1, 3).astype(np.uint32)
    colours = len(np.unique(flat[:, 0] << 16 | flat[:, 1] << 8 | flat[:, 2]))
    ink = float((flat.min(axis=1) < 200).mean())
    flag = int((flat == FLAG_ROW).all(axis=1).sum())
    assert colours > 50, f"{colours} colours"
    assert 0.01 < ink < 0.5, f"{ink:.1%} of the pixels are dark"
    assert flag > 1000, f"{flag} pixels of flagged rows"

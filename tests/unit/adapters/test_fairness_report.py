"""The fairness report renderer: self-contained HTML, inline SVG, escaping, PNG and SVG."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import pytest

from expert_draw.adapters import fairness_report as fr
from expert_draw.core import fairness as f

EVIL = '<script>alert("x")</script>'
VOID = {"meta", "br", "hr", "img", "input", "link", "col", "source", "wbr", "area", "base"}


def records() -> list[f.DrawRecord]:
    pool = (EVIL, "e-01", "e-02", "e-03", "e-04", "e-05")
    draws = []
    for i in range(40):
        seats = (pool[i % 6], pool[(i + 1) % 6])
        draws.append(
            f.DrawRecord(
                draw_id=f"d-{i}",
                requester="交易系统<一>" if i % 2 else "ts & co",
                project_ref="ab",
                tender_ref=f"t{i // 2}",
                tenderer='91110000"TENDERER',
                agency="AG<b>",
                state="AWARDED",
                created_ms=1_900_000_000_000 + i * 86_400_000,
                strata=(f.Stratum("A01<i>", pool, 2, seats),),
                seated=seats,
                declines=(f.Decline(seats[0], "SIGNED_DECLINE", ""),) if i % 5 == 0 else (),
                supersedes=f"d-{i - 1}" if i % 2 else "",
            )
        )
    draws.append(
        dataclasses.replace(
            draws[0],
            draw_id="d-expired",
            state="EXPIRED",
            strata=(f.Stratum("A01<i>", pool, 2),),
            seated=(),
        )
    )
    return draws


@pytest.fixture(scope="module")
def report() -> f.FairnessReport:
    experts = [
        f.ExpertInfo(x, "EMP-1" if x in (EVIL, "e-01", "e-02") else "EMP-2")
        for x in (EVIL, "e-01", "e-02", "e-03", "e-04", "e-05")
    ]
    return f.analyse(
        records(),
        experts,
        f.FairnessPolicy(group_min_draws=5, panel_max_per_employer=1),
        as_of_ms=2_000_000_000_000,
    )


@pytest.fixture(scope="module")
def page(report: f.FairnessReport) -> str:
    return fr.render_html(report)


class Checker(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.tags: dict[str, int] = {}
        self.text: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs.extend(attrs)
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.attrs.extend(attrs)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"unexpected </{tag}> with open {self.stack[-3:]}")
            return
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def parse(page: str) -> Checker:
    checker = Checker()
    checker.feed(page)
    checker.close()
    return checker


def test_html_is_well_formed_and_self_contained(page: str, report: f.FairnessReport) -> None:
    checker = parse(page)
    assert checker.errors == []
    assert checker.stack == []
    assert page.startswith("<!DOCTYPE html>")
    assert "http://" not in page
    assert "https://" not in page
    assert "script" not in checker.tags
    assert not any(
        name in {"src", "href", "xlink:href"} and value and not value.startswith("#")
        for name, value in checker.attrs
    )
    assert checker.tags["svg"] == 6  # one per plot
    assert checker.tags["table"] >= 10
    assert "<style>" in page


def test_untrusted_text_is_escaped(page: str) -> None:
    assert EVIL not in page
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    assert "AG&lt;b&gt;" in page
    assert "A01&lt;i&gt;" in page
    assert "ts &amp; co" in page
    assert "交易系统&lt;一&gt;" in page
    text = "".join(parse(page).text)
    assert EVIL in text  # the reader sees the id as text


def test_tables_hold_the_figures(page: str, report: f.FairnessReport) -> None:
    for heading in (
        "Selection frequency",
        "Re-draws",
        "Decline patterns",
        "Employer concentration",
        "Platform statistics",
        "细则 第16条",
        "Policy",
    ):
        assert heading in page
    assert "d-expired" in page  # an abandoned commitment is listed
    assert report.employers.panels != ()  # cap 1: every panel with two EMP-1 members
    assert f"<td>{report.employers.panels[0].draw_id}</td>" in page
    for key in report.policy.to_mapping():
        assert f"<td>{key}</td>" in page


def test_plots_svg_and_png(report: f.FairnessReport) -> None:
    svgs = fr.plots(report)
    assert set(svgs) == {
        "selection",
        "draws_per_month",
        "seats_per_discipline",
        "responses",
        "redraw_rates",
        "group_gof",
    }
    for svg in svgs.values():
        assert svg.startswith(b"<?xml")
        assert b"<svg" in svg
        assert b"<script" not in svg
    pngs = fr.plots(report, "png")
    assert all(png.startswith(b"\x89PNG\r\n\x1a\n") for png in pngs.values())
    with pytest.raises(ValueError, match="plot format"):
        fr.plots(report, "pdf")


def test_rendering_is_deterministic(report: f.FairnessReport, page: str) -> None:
    assert fr.render_html(report) == page  # plots included: fixed SVG hash salt, no date


def test_without_plots_and_with_an_empty_report() -> None:
    empty = f.analyse([], [], f.FairnessPolicy(), as_of_ms=0)
    page = fr.render_html(empty, with_plots=False, title="<t>")
    checker = parse(page)
    assert checker.errors == []
    assert "svg" not in checker.tags
    assert "<title>&lt;t&gt;</title>" in page
    assert "Not enough draws" in page
    assert parse(fr.render_html(empty)).tags["svg"] == 6  # empty plots still render


def test_inline_svg_drops_prologue_metadata_and_namespaces() -> None:
    svg = (
        b'<?xml version="1.0"?>\n<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" "http://www.w3.org/x.dtd">\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="1">'
        b"<metadata><rdf:RDF>http://purl.org/dc</rdf:RDF></metadata><g/></svg>"
    )
    assert fr.inline_svg(svg) == '<svg width="1"><g/></svg>'

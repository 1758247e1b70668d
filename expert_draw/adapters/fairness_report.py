"""Render a fairness report (``expert_draw.core.fairness``) as HTML, SVG and PNG.

:func:`render_html` returns one self-contained HTML document: inline CSS, the plots as
inline SVG, no script, no external reference, every text from the records escaped. A
supervisor saves it and opens it in any browser, offline. :func:`plots` returns the
same plots as standalone SVG (or PNG) files.

Plots use matplotlib's Agg canvas on a private ``Figure`` (no pyplot, no global state)
and ASCII labels only, so a machine without CJK fonts renders them without warnings;
the Chinese terms are in the HTML text around them. SVG text is drawn as paths
(``svg.fonttype = path``) and the hash salt and dates are fixed, so the same report
gives the same bytes.
"""

from __future__ import annotations

import html
import io
import math
import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

from expert_draw.core.fairness import (
    CHINA_STANDARD_TIME,
    Excess,
    FairnessReport,
    Gof,
    PairAnalysis,
    PartyRow,
)

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Sequence

    from matplotlib.axes import Axes

PLOT_FORMATS = ("svg", "png")
_RC: Any = {"svg.fonttype": "path", "svg.hashsalt": "expert-draw-fairness", "font.size": 9.0}
_MAX_ROWS = 500  # rows per table in the HTML; the CLI's --json has them all

_CSS = """
body{font-family:system-ui,"Noto Sans CJK SC","Microsoft YaHei",sans-serif;margin:2em;
color:#1a1a1a;max-width:1200px}
h1{font-size:1.5em}h2{font-size:1.2em;border-bottom:1px solid #ccc;margin-top:2em}
h3{font-size:1.05em}
table{border-collapse:collapse;margin:.5em 0 1em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.2em .5em;text-align:left;vertical-align:top}
td.n{text-align:right;font-variant-numeric:tabular-nums}
tr.flag td{background:#fde8e8}
.note{color:#555;font-size:.9em}.ok{color:#176617}.bad{color:#a11}
figure{margin:1em 0}figure svg{max-width:100%;height:auto}
"""


# -- plots -----------------------------------------------------------------------------


def _figure(draw: Callable[[Axes], None], fmt: str, size: tuple[float, float]) -> bytes:
    from matplotlib import rc_context
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if fmt not in PLOT_FORMATS:
        msg = f"plot format must be one of {', '.join(PLOT_FORMATS)}"
        raise ValueError(msg)
    with rc_context(_RC):
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig.add_subplot())
        out = io.BytesIO()
        metadata = {"Date": None} if fmt == "svg" else {"Software": None}
        fig.savefig(out, format=fmt, metadata=metadata, dpi=100)
    return out.getvalue()


def _selection_plot(report: FairnessReport) -> Callable[[Axes], None]:
    rows = report.selection.experts

    def draw(ax: Axes) -> None:
        expected = [r.expected for r in rows]
        observed = [r.observed for r in rows]
        ax.scatter(expected, observed, s=10, color="#4a6fa5", label="expert")
        flagged = [r for r in rows if r.flagged]
        if flagged:
            ax.scatter(
                [r.expected for r in flagged], [r.observed for r in flagged],
                s=30, color="#c0392b", label="flagged",
            )  # fmt: skip
        top = max([1.0, *expected, *observed])
        ax.plot([0, top], [0, top], color="#888", linewidth=0.8, label="observed = expected")
        ax.set_xlabel("expected seats (uniform draw)")
        ax.set_ylabel("observed seats")
        ax.set_title("Selection frequency per expert")
        ax.legend(loc="upper left")

    return draw


def _bars(
    title: str, labels: Sequence[str], series: Sequence[tuple[str, Sequence[float]]], ylabel: str
) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        width = 0.8 / max(1, len(series))
        for i, (name, values) in enumerate(series):
            xs = [j + i * width for j in range(len(labels))]
            ax.bar(xs, values, width=width, label=name)
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(labels))])
        ax.set_xticklabels([_ascii(x) for x in labels], rotation=45, ha="right")
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if len(series) > 1:
            ax.legend()

    return draw


def _redraw_plot(report: FairnessReport) -> Callable[[Axes], None]:
    rows = report.redraws.requesters
    limit = report.policy.redraw_max_rate

    def draw(ax: Axes) -> None:
        colors = ["#c0392b" if r.flagged else "#4a6fa5" for r in rows]
        ax.bar(range(len(rows)), [r.rate for r in rows], color=colors)
        ax.axhline(limit, color="#888", linestyle="--", linewidth=0.8, label="redraw_max_rate")
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([_ascii(r.requester) for r in rows], rotation=45, ha="right")
        ax.set_ylabel("share of tenders re-drawn")
        ax.set_title("Re-draw rate per trading system")
        ax.legend()

    return draw


def _group_plot(report: FairnessReport) -> Callable[[Axes], None]:
    def draw(ax: Axes) -> None:
        for i, g in enumerate(report.groups):
            values = [-math.log10(max(row.p_adjusted, 1e-300)) for row in g.groups]
            ax.scatter([i] * len(values), values, s=14, label=g.dimension)
        ax.axhline(-math.log10(report.policy.alpha), color="#888", linestyle="--", linewidth=0.8)
        ax.set_xticks(range(len(report.groups)))
        ax.set_xticklabels([g.dimension for g in report.groups])
        ax.set_ylabel("-log10 adjusted p")
        ax.set_title("Goodness of fit per group (dashed: alpha)")

    return draw


def _ascii(text: str, limit: int = 24) -> str:
    """Plot labels stay ASCII (no CJK font needed); anything else becomes ``?``."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean if len(clean) <= limit else clean[: limit - 1] + "~"


def plots(report: FairnessReport, fmt: str = "svg") -> dict[str, bytes]:
    """The report's plots by name, as standalone SVG (default) or PNG files.

    Raises:
        ValueError: an unknown format.
    """
    p = report.platform
    months = [m.period for m in p.months]
    monthly = [
        ("draws", [m.draws for m in p.months]),
        ("executed", [m.executed for m in p.months]),
        ("cancelled", [m.cancelled for m in p.months]),
        ("abandoned", [m.abandoned for m in p.months]),
    ]
    r = p.responses
    figures: dict[str, Callable[[Axes], None]] = {
        "selection": _selection_plot(report),
        "draws_per_month": _bars("Draws per month (UTC+8)", months, monthly, "draws"),
        "seats_per_discipline": _bars(
            "Seats requested per discipline",
            [d.discipline for d in p.disciplines],
            [
                ("seats", [d.seats for d in p.disciplines]),
                ("short", [d.short for d in p.disciplines]),
            ],
            "count",
        ),
        "responses": _bars(
            "Responses of seated experts",
            ["accepted", "declined", "no answer", "struck"],
            [("count", [r.accepted, r.declined, r.no_answer, r.struck])],
            "count",
        ),
        "redraw_rates": _redraw_plot(report),
        "group_gof": _group_plot(report),
    }
    return {name: _figure(draw, fmt, (6.4, 3.6)) for name, draw in figures.items()}


# -- HTML ------------------------------------------------------------------------------

_SVG_PROLOGUE = re.compile(rb"^.*?(?=<svg)", re.DOTALL)
_SVG_METADATA = re.compile(rb"<metadata>.*?</metadata>", re.DOTALL)
_SVG_XMLNS = re.compile(rb'\s+xmlns(?::\w+)?="[^"]*"')


def inline_svg(svg: bytes) -> str:
    """An SVG file as an inline ``<svg>`` element of HTML5.

    Without the XML prologue, the DOCTYPE, the RDF metadata and the namespace
    declarations: the HTML parser supplies the namespaces of inline SVG.
    """
    body = _SVG_METADATA.sub(b"", _SVG_PROLOGUE.sub(b"", svg, count=1))
    return _SVG_XMLNS.sub(b"", body).decode("utf-8")


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _num(value: float) -> str:
    if isinstance(value, int):
        return str(value)
    return f"{value:.3g}" if abs(value) < 0.01 and value != 0 else f"{value:.2f}"  # noqa: PLR2004


def _cell(value: object) -> str:
    if isinstance(value, bool):
        return f"<td>{'yes' if value else ''}</td>"
    if isinstance(value, int | float):
        return f'<td class="n">{_e(_num(value))}</td>'
    return f"<td>{_e(value)}</td>"


def _table(
    headers: Sequence[str], rows: Iterable[Sequence[object]], flags: Iterable[bool] = ()
) -> str:
    rows = list(rows)
    if not rows:
        return '<p class="note">(none)</p>'
    marks = list(flags) or [False] * len(rows)
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        ('<tr class="flag">' if flag else "<tr>") + "".join(_cell(v) for v in row) + "</tr>"
        for row, flag in zip(rows[:_MAX_ROWS], marks[:_MAX_ROWS], strict=True)
    )
    more = (
        f'<p class="note">{len(rows) - _MAX_ROWS} more rows not shown.</p>'
        if len(rows) > _MAX_ROWS
        else ""
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


_EXCESS_HEADERS = (
    "group",
    "subject",
    "trials",
    "observed",
    "expected",
    "p",
    "p adjusted",
    "flagged",
)


def _excess_rows(rows: Sequence[Excess]) -> str:
    return _table(
        _EXCESS_HEADERS,
        (
            (
                r.group,
                r.subject,
                r.trials,
                r.observed,
                r.expected,
                r.p_value,
                r.p_adjusted,
                r.flagged,
            )
            for r in rows
        ),
        (r.flagged for r in rows),
    )


def _pairs(title: str, explain: str, analysis: PairAnalysis) -> str:
    return (
        f'<h3>{_e(title)}</h3><p class="note">{_e(explain)} Tests in the family: '
        f"{analysis.tested}; flagged: {len(analysis.flagged)}.</p>{_excess_rows(analysis.rows)}"
    )


def _gof_text(g: Gof | None) -> str:
    if g is None:
        return '<p class="note">Not enough draws for the goodness-of-fit test.</p>'
    verdict = (
        '<span class="bad">significant</span>'
        if g.significant
        else '<span class="ok">not significant</span>'
    )
    return (
        f"<p>X² = {_num(g.statistic)}, effective df = {_num(g.df)}, scale = {_num(g.scale)}, "
        f"p = {_e(f'{g.p_value:.3g}')} ({verdict}); {g.bins} bins over {g.experts} experts "
        f"({g.merged_experts} merged below the minimum expectation), {g.draws} draws, "
        f"{g.seats} seats.</p>"
    )


def _policy(report: FairnessReport) -> str:
    rows = [
        (k, ", ".join(v) if isinstance(v, tuple) else v)
        for k, v in report.policy.to_mapping().items()
    ]
    return _table(("[fairness] key", "value"), rows)


def _summary(report: FairnessReport) -> str:
    rows = [
        (f.detector, f.subject, f.detail, "" if f.p_value is None else f"{f.p_value:.3g}")
        for f in report.findings
    ]
    return _table(("detector", "subject", "detail", "p (adjusted)"), rows, [True] * len(rows))


def _selection(report: FairnessReport) -> str:
    s = report.selection
    return (
        "<h2>抽取频率 Selection frequency</h2>"
        + _gof_text(s.gof)
        + f'<p class="note">Strata left out (they share members with an earlier stratum of '
        f"the same draw): {s.strata_left_out}.</p>"
        + "<h3>Flagged experts</h3>"
        + _excess_rows(s.flagged)
        + "<h3>All experts</h3>"
        + _excess_rows(s.experts)
    )


def _groups(report: FairnessReport) -> str:
    out = ["<h2>分组拟合优度 Goodness of fit per tenderer, agency, discipline</h2>"]
    labels = {
        "tenderer": "招标人 tenderer",
        "agency": "代理机构 agency",
        "discipline": "专业 discipline",
    }
    for g in report.groups:
        out.append(f"<h3>{_e(labels.get(g.dimension, g.dimension))}</h3>")
        out.append(
            f'<p class="note">Groups below {report.policy.group_min_draws} draws, '
            f"not tested: {g.skipped}.</p>"
        )
        rows = [
            (r.group, r.draws, r.gof.statistic, r.gof.df, r.gof.p_value, r.p_adjusted, r.flagged)
            for r in g.groups
        ]
        out.append(
            _table(
                ("group", "draws", "X²", "df", "p", "p adjusted", "flagged"),
                rows,
                (r.flagged for r in g.groups),
            )
        )
    return "".join(out)


def _redraws(report: FairnessReport) -> str:
    r = report.redraws
    requesters = _table(
        ("trading system", "tenders", "re-drawn", "rate", "flagged"),
        ((x.requester, x.chains, x.redrawn, x.rate, x.flagged) for x in r.requesters),
        (x.flagged for x in r.requesters),
    )
    chains = [c for c in r.chains if len(c.draw_ids) > 1]
    chain_table = _table(
        ("trading system", "tender_ref", "project_ref", "attempts", "executed", "draw ids"),
        (
            (
                c.requester,
                c.tender_ref,
                c.project_ref,
                len(c.draw_ids),
                c.executed,
                " → ".join(c.draw_ids),
            )
            for c in chains
        ),
    )
    return (
        "<h2>重新抽取 Re-draws</h2>"
        f"<p>Platform re-draw rate: {r.platform_rate:.1%} of {len(r.chains)} tenders.</p>"
        + requesters
        + "<h3>Tenders drawn more than once</h3>"
        + chain_table
        + _pairs(
            "Steering (re-draw until an expert is seated)",
            "Per trading system and expert: chains whose last executed attempt seated the expert, "
            "who was eligible but not seated in an earlier attempt.",
            r.steering,
        )
    )


def _employers(report: FairnessReport) -> str:
    e = report.employers
    panels = _table(
        ("draw", "employer", "seats", "panel size"),
        ((p.draw_id, p.employer_ref, p.seats, p.panel_size) for p in e.panels),
        [True] * len(e.panels),
    )
    return (
        "<h2>工作单位集中度 Employer concentration</h2>"
        f"<h3>Panels with more than {report.policy.panel_max_per_employer} seats "
        "from one employer</h3>"
        + panels
        + _pairs(
            "Employers seated above their share of the pools",
            "Hypergeometric per draw.",
            e.employers,
        )
    )


def _platform(report: FairnessReport) -> str:
    p = report.platform
    r = p.responses
    month_rows = (
        (
            m.period,
            m.draws,
            m.executed,
            m.cancelled,
            m.expired,
            m.abandoned,
            m.shortfalls,
            m.redraws,
            m.seats,
            m.declines,
        )
        for m in p.months
    )
    party_headers = (
        "key",
        "draws",
        "executed",
        "cancelled",
        "abandoned",
        "re-draws",
        "declines",
        "shortfalls",
    )

    def party(rows: Iterable[PartyRow]) -> str:
        return _table(
            party_headers,
            (
                (
                    x.key,
                    x.draws,
                    x.executed,
                    x.cancelled,
                    x.abandoned,
                    x.redraws,
                    x.declines,
                    x.shortfalls,
                )
                for x in rows
            ),
        )

    def listed(title: str, ids: Sequence[str]) -> str:
        return f"<h3>{_e(title)} ({len(ids)})</h3><p>{_e(', '.join(ids)) or '(none)'}</p>"

    return (
        "<h2>数据统计 Platform statistics (细则 第16条)</h2>"
        f"<p>{p.draws} draws, {p.executed} executed. Months are calendar months in "
        "中国标准时间 (UTC+8).</p>"
        "<h3>按月 Per month</h3>"
        + _table(
            (
                "month",
                "draws",
                "executed",
                "cancelled",
                "expired",
                "abandoned",
                "shortfalls",
                "re-draws",
                "seats",
                "declines",
            ),
            month_rows,
        )
        + "<h3>按专业 Per discipline</h3>"
        + _table(
            ("discipline", "strata", "executed", "seats", "short", "mean pool"),
            (
                (d.discipline, d.strata, d.executed, d.seats, d.short, d.mean_pool)
                for d in p.disciplines
            ),
        )
        + "<h3>响应 Responses</h3>"
        + _table(
            (
                "accepted",
                "declined",
                "no answer",
                "struck by the service",
                "accept rate",
                "decline rate",
                "no-answer rate",
            ),
            [
                (
                    r.accepted,
                    r.declined,
                    r.no_answer,
                    r.struck,
                    r.accept_rate,
                    r.decline_rate,
                    r.no_answer_rate,
                )
            ],
        )
        + _table(("decline reason", "count"), r.by_reason)
        + "<h3>按交易系统 Per trading system</h3>"
        + party(p.requesters)
        + "<h3>按项目 Per project</h3>"
        + party(p.projects)
        + listed("弃置承诺 Abandoned commitments (committed, never executed)", p.abandoned)
        + listed("取消 Cancellations", p.cancelled)
        + listed("重新抽取 Re-draws", p.redraws)
        + listed("不足 Shortfalls", p.shortfalls)
    )


def _figures(report: FairnessReport) -> str:
    captions = {
        "selection": "抽取频率 observed vs expected seats per expert",
        "draws_per_month": "每月抽取 draws per month",
        "seats_per_discipline": "各专业席位 seats per discipline",
        "responses": "响应 responses",
        "redraw_rates": "重新抽取率 re-draw rate per trading system",
        "group_gof": "分组拟合优度 goodness of fit per group",
    }
    return "<h2>图表 Plots</h2>" + "".join(
        f"<figure>{inline_svg(svg)}<figcaption>{_e(captions.get(name, name))}</figcaption></figure>"
        for name, svg in plots(report).items()
    )


def render_html(
    report: FairnessReport, *, title: str = "专家抽取公平性分析报告", with_plots: bool = True
) -> str:
    """The whole report as one self-contained HTML document (UTF-8 text)."""
    as_of = datetime.fromtimestamp(report.as_of_ms // 1000, tz=CHINA_STANDARD_TIME).isoformat()
    parts = [
        "<!DOCTYPE html>",
        '<html lang="zh-CN"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)} — Fairness analytics</h1>",
        (
            f'<p class="note">As of {_e(as_of)} (中国标准时间). A finding is a statistical '
            "signal to review, not proof of misconduct: see docs/fairness-analytics.md.</p>"
        ),
        "<h2>发现 Findings</h2>",
        _summary(report),
        _selection(report),
        _groups(report),
        "<h2>关联 Affinity</h2>",
        *(
            _pairs(a.name, "Seats per (group, expert) against a uniform draw.", a)
            for a in report.affinity
        ),
        _redraws(report),
        "<h2>拒绝模式 Decline patterns</h2>",
        _pairs(
            "(decliner, replacement) pairs",
            "How often the same member took the seat a given expert declined.",
            report.declines,
        ),
        _employers(report),
        _platform(report),
        _figures(report) if with_plots else "",
        "<h2>阈值 Policy</h2>",
        _policy(report),
        "</body></html>",
    ]
    return "\n".join(parts)

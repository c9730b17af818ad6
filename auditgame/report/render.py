"""Writing a report as Markdown, CSV, a self-contained HTML page or a PNG heatmap."""

from __future__ import annotations

import base64
import html
import math
from datetime import date
from pathlib import Path

from auditgame.report.charts import heatmap_png, heatmap_svg
from auditgame.report.report import Report
from auditgame.report.tables import (
    LEGEND,
    Cell,
    Table,
    leaderboard_frame,
    organisms_frame,
    report_tables,
    skipped_frame,
)

FORMATS = ("md", "csv", "html", "png")
DEFAULT_TITLE = "Auditing leaderboard"
PIXELS_PER_INCH = 110
"""Screen size of the heatmap (it shrinks to the page width when that is narrower)."""


def view_hint(report: Report) -> str:
    return f"inspect view --log-dir {report.log_dir}"


def summary_line(report: Report) -> str:
    """``14 audit runs by 4 auditors · 2 organisms measured · 9 logs from logs/ · 2026-12-01``."""
    runs = 0 if report.board.empty else int(sum(e.n for e in report.board.ranking["runs"]))
    organisms = len({r.organism for r in report.organisms.rows})
    parts = [
        f"{runs:,} audit runs by {len(report.board.ranking)} auditors",
        f"{organisms} organisms measured",
        f"{len(report.logs):,} logs from {report.log_dir.name}/",
        date.today().isoformat(),
    ]
    return " · ".join(parts)


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(table: Table) -> str:
    lines = [f"## {table.title}", ""]
    if table.note:
        lines += [table.note, ""]
    if not table.rows:
        return "\n".join([*lines, "(none)", ""])
    lines.append("| " + " | ".join(_md_escape(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---" for _ in table.columns) + "|")
    lines += [
        "| " + " | ".join(_md_escape(cell.full_text) for cell in row) + " |" for row in table.rows
    ]
    return "\n".join([*lines, ""])


def to_markdown(report: Report, title: str = DEFAULT_TITLE) -> str:
    """The leaderboard, per-group tables, the organism table, the auditors' configurations,
    skipped logs and the logs used."""
    parts = [f"# {title}", "", summary_line(report), "", *(f"{p}\n" for p in LEGEND)]
    if report.board.empty:
        parts += ["No usable audit logs.", ""]
    parts += [markdown_table(t) for t in report_tables(report)]
    parts += [f"## Logs ({len(report.logs)})", "", f"View them with `{view_hint(report)}`.", ""]
    parts += [f"- {log}" for log in report.logs]
    return "\n".join(parts) + "\n"


def csv_paths(out: Path) -> dict[str, Path]:
    """``x.csv`` (leaderboard), ``x.organisms.csv`` and ``x.skipped.csv``."""
    stem = out.with_suffix("") if out.suffix == ".csv" else out
    return {
        "leaderboard": stem.with_name(stem.name + ".csv"),
        "organisms": stem.with_name(stem.name + ".organisms.csv"),
        "skipped": stem.with_name(stem.name + ".skipped.csv"),
    }


def write_csv(report: Report, out: Path) -> list[Path]:
    """Three CSV files beside each other (see `csv_paths`); returns their paths."""
    paths = csv_paths(out)
    leaderboard_frame(report.board).to_csv(paths["leaderboard"], index=False)
    organisms_frame(report).to_csv(paths["organisms"], index=False)
    skipped_frame(report).to_csv(paths["skipped"], index=False)
    return list(paths.values())


SORT_SCRIPT = """
function sortTable(table, column, direction) {
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  const key = (row) => {
    const cell = row.cells[column];
    return cell.dataset.num !== undefined ? parseFloat(cell.dataset.num) : cell.textContent;
  };
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    const order = (typeof x === "number" && typeof y === "number") ? x - y : String(x).localeCompare(String(y));
    return direction === "asc" ? order : -order;
  });
  rows.forEach((row) => body.appendChild(row));
  table.querySelectorAll("th").forEach((th, i) => {
    th.dataset.sorted = i === column ? direction : "";
  });
  document.body.dataset.sorted = table.id + ":" + column + ":" + direction;
}
document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("th").forEach((th, column) => {
    th.addEventListener("click", () => {
      sortTable(table, column, th.dataset.sorted === "desc" ? "asc" : "desc");
    });
  });
});
const wanted = /^#sort=([\\w-]+):(\\d+)(?::(asc|desc))?$/.exec(decodeURIComponent(location.hash));
if (wanted) {
  const table = document.getElementById(wanted[1]);
  if (table) sortTable(table, parseInt(wanted[2], 10), wanted[3] || "desc");
}
const fits = () => document.documentElement.scrollWidth <= window.innerWidth &&
  Array.from(document.querySelectorAll(".scroll")).every((box) => box.scrollWidth <= box.clientWidth + 1);
document.body.dataset.fits = fits() ? "yes" : "no";
document.body.dataset.ready = "yes";
"""

STYLE = """
:root { --ink: #1d1d1f; --muted: #666; --rule: #d9d9de; --head: #f3f3f5; --good: #1a7f37;
        --bad: #b42318; }
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; color: var(--ink);
       margin: 0; line-height: 1.4; font-size: 15px; }
main { max-width: 1180px; margin: 0 auto; padding: 1.5em 1.25em 3em; }
h1 { font-size: 1.6em; margin: 0 0 0.2em; }
h2 { font-size: 1.15em; margin: 1.8em 0 0.4em; }
.summary { color: var(--muted); margin: 0 0 1em; }
.legend { border-left: 3px solid var(--rule); padding: 0.2em 0 0.2em 0.9em; color: #333;
          font-size: 0.92em; max-width: 62em; }
.legend p { margin: 0.3em 0; }
figure { margin: 1em 0; }
figure img { max-width: 100%; height: auto; }
figcaption { color: var(--muted); font-size: 0.85em; }
.scroll { overflow-x: auto; }
.grid { display: flex; flex-wrap: wrap; gap: 0 2.5em; align-items: flex-start; }
.grid h2 { font-size: 1em; }
table { border-collapse: collapse; margin: 0.4em 0 0.6em; font-size: 0.86em; }
th, td { border-bottom: 1px solid var(--rule); padding: 0.35em 0.65em; text-align: left;
         vertical-align: top; }
th { background: var(--head); cursor: pointer; user-select: none; border-bottom: 1px solid #bbb;
     vertical-align: bottom; }
th[data-sorted="asc"]::after { content: " ▲"; font-size: 0.75em; }
th[data-sorted="desc"]::after { content: " ▼"; font-size: 0.75em; }
td[data-num] { text-align: right; font-variant-numeric: tabular-nums; }
td .ci { white-space: nowrap; }
td .n { display: block; color: var(--muted); font-size: 0.82em; }
td.config { text-decoration: underline dotted #999; text-underline-offset: 3px; cursor: help; }
td.good { color: var(--good); font-weight: 600; }
td.bad { color: var(--bad); font-weight: 600; }
#skipped td, #skipped th { font-size: 0.92em; }
#skipped td:first-child { word-break: break-all; }
.note { color: var(--muted); font-size: 0.86em; max-width: 62em; margin: 0.2em 0; }
code { background: #f4f4f6; padding: 0.1em 0.3em; border-radius: 3px; }
ul#logs { columns: 2 24em; font-size: 0.85em; }
@media (max-width: 820px) {
  body { font-size: 14px; }
  main { padding: 1em 0.6em 2em; }
  th, td { padding: 0.3em 0.35em; }
}
@media print {
  body { font-size: 9.5pt; }
  main { max-width: none; padding: 0; }
  th { cursor: auto; background: none; }
  th::after { content: "" !important; }
  td.config { text-decoration: none; }
  .scroll { overflow: visible; }
  tr, figure { break-inside: avoid; }
  h2 { break-after: avoid; }
  a { color: inherit; text-decoration: none; }
  ul#logs, .screen-only { display: none; }
}
@page { margin: 1.5cm; }
"""

def _legend_html() -> str:
    return "".join(f"<p>{html.escape(p)}</p>" for p in LEGEND) + (
        '<p class="screen-only">Hover an auditor\'s name for its whole configuration; click a '
        "column header to sort.</p>"
    )


def _cell_html(c: Cell) -> str:
    numeric = isinstance(c.sort, (int, float))
    attributes = ""
    if numeric:
        attributes += f' data-num="{"-1e308" if math.isinf(c.sort) else repr(float(c.sort))}"'
    if c.title:
        attributes += f' title="{html.escape(c.title)}"'
    classes = " ".join(filter(None, [c.tone, "config" if c.title and not c.tone else ""]))
    if classes:
        attributes += f' class="{classes}"'
    value, bracket, interval = c.text.partition(" [")
    text = html.escape(value)
    if bracket:  # the interval may wrap below its value on a narrow page, never inside itself
        text += f' <span class="ci">[{html.escape(interval)}</span>'
    count = f'<span class="n">n={c.n:,}</span>' if c.n is not None else ""
    return f"<td{attributes}>{text}{count}</td>"


def html_table(table: Table) -> str:
    head = "".join(f"<th>{html.escape(c)}</th>" for c in table.columns)
    body = "\n".join("<tr>" + "".join(_cell_html(c) for c in row) + "</tr>" for row in table.rows)
    note = f'<p class="note">{html.escape(table.note)}</p>' if table.note else ""
    title = f'<h2 id="{table.id}-title">{html.escape(table.title)}</h2>'
    if not table.rows:
        return f"<section>{title}{note}<p>(none)</p></section>"
    return (
        f"<section>{title}{note}\n"
        f'<div class="scroll"><table class="sortable" id="{table.id}"><thead><tr>{head}</tr>'
        f"</thead>\n<tbody>\n{body}\n</tbody></table></div></section>"
    )


def _sections(tables: list[Table]) -> str:
    """Every table; the small per-group ones side by side where the page is wide enough."""
    parts: list[str] = []
    grid: list[str] = []
    for table in tables:
        if table.id.startswith("by-"):
            grid.append(html_table(table))
            continue
        if grid:
            parts.append(f'<div class="grid">{"".join(grid)}</div>')
            grid = []
        parts.append(html_table(table))
    if grid:
        parts.append(f'<div class="grid">{"".join(grid)}</div>')
    return "\n".join(parts)


def _log_link(log: str) -> str:
    path = Path(log)
    href = path.as_uri() if path.is_absolute() else log
    return f'<li><a href="{html.escape(href)}">{html.escape(path.name)}</a></li>'


def _figure(report: Report) -> str:
    if report.board.empty:
        return ""
    svg, inches = heatmap_svg(report.board)
    chart = base64.b64encode(svg).decode("ascii")
    by = html.escape(report.board.by)
    return f"""<figure>
<img id="heatmap" alt="heatmap of found@K and false alarms, auditors by {by}"
     style="width: {round(inches * PIXELS_PER_INCH)}px" src="data:image/svg+xml;base64,{chart}"
     onload="this.dataset.loaded = this.naturalWidth > 0 ? 'yes' : 'no'">
<figcaption>found@K on quirky organisms (green) and false alarms on controls (red), auditors
in ranking order by {by}; each cell: value, 95% interval, n runs.</figcaption>
</figure>"""


def to_html(report: Report, title: str = DEFAULT_TITLE) -> str:
    """One self-contained, printable page: a legend, the heatmap (inline SVG), sortable tables
    (click a header; ``#sort=<table>:<column>`` sorts on load) and links to every log."""
    sections = _sections(report_tables(report))
    logs = "\n".join(_log_link(log) for log in report.logs)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title>
<style>{STYLE}</style></head>
<body><main>
<h1>{html.escape(title)}</h1>
<p class="summary">{html.escape(summary_line(report))}</p>
<div class="legend">{_legend_html()}</div>
{_figure(report)}
{sections}
<section><h2>Logs ({len(report.logs)})</h2>
<p class="note">Open them in the log viewer with <code>{html.escape(view_hint(report))}</code>.</p>
<ul id="logs">
{logs}
</ul></section>
</main>
<script>{SORT_SCRIPT}</script>
</body></html>
"""


def write_report(
    report: Report, format: str, out: Path | None, title: str = DEFAULT_TITLE
) -> list[Path]:
    """Write ``report`` in ``format`` to ``out`` (default ``leaderboard.<format>``); returns
    the files written."""
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    out = out or Path(f"leaderboard.{format}")
    out.parent.mkdir(parents=True, exist_ok=True)
    if format == "csv":
        return write_csv(report, out)
    if format == "png":
        out.write_bytes(heatmap_png(report.board))
    else:
        page = to_markdown(report, title) if format == "md" else to_html(report, title)
        out.write_text(page, encoding="utf-8")
    return [out]

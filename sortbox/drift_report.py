"""The drift report as one self-contained HTML page: PNG plots embedded as data URIs, no network.

Pure rendering of the dict `tasks/drift.py` writes as drift.json (aggregates only: no text, no id).
"""

from __future__ import annotations

import base64
import html
import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display needed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sortbox.drift import MEASURES, NOT_COMPARED  # noqa: E402

esc = html.escape
COLOURS = {"ok": "#2e7d32", "warn": "#ef6c00", "alert": "#c62828", NOT_COMPARED: "#616161"}
PLOT_BINS = 50


def _png(fig: plt.Figure) -> str:
    """The figure as an <img> with a data URI (the page stays one file that opens offline)."""
    buffer = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=90)
    finally:
        plt.close(fig)
    return f"<img alt='plot' src='data:image/png;base64,{base64.b64encode(buffer.getvalue()).decode('ascii')}'>"


def _badge(status: str) -> str:
    return f"<span class='badge' style='background:{COLOURS.get(status, '#616161')}'>{esc(status)}</span>"


def _number(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:,}" if isinstance(value, int) else f"{value:.4f}"  # counts (rows) stay counts


def _score_plot(entry: dict) -> str:
    """Live night vs tonight: the live model's score densities, and the shares of the decile bins."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    for key, label, colour in (
        ("live_histogram", "live night", "#4c72b0"),
        ("tonight_histogram", "tonight", "#dd8452"),
    ):
        counts = np.asarray(entry[key], dtype=float).reshape(PLOT_BINS, -1).sum(axis=1)
        total = counts.sum() or 1.0
        left.step(np.linspace(0, 1, PLOT_BINS, endpoint=False), counts / total, where="post", label=label, color=colour)
    left.set_xlabel("score")
    left.set_ylabel("share of scored rows")
    left.set_title(f"{entry['class']}: live model's scores")
    left.legend(fontsize=8)
    positions = np.arange(len(entry["live_shares"]))
    right.bar(positions - 0.2, entry["live_shares"], width=0.4, label="live night", color="#4c72b0")
    right.bar(positions + 0.2, entry["tonight_shares"], width=0.4, label="tonight", color="#dd8452")
    right.set_xticks(positions)
    right.set_xticklabels([f"D{i + 1}" for i in positions], fontsize=8)
    right.set_ylabel("share of scored rows")
    right.set_title("live night's decile bins (PSI)")
    right.legend(fontsize=8)
    return _png(fig)


def _pairs_plot(rows: list[dict], key: str, title: str) -> str:
    """Horizontal bars, live night vs tonight, one pair per row."""
    names = [str(r[key]) for r in rows][::-1]
    fig, ax = plt.subplots(figsize=(6, 0.45 * len(rows) + 1.2))
    positions = np.arange(len(rows))
    ax.barh(positions + 0.2, [r["live"] for r in rows][::-1], height=0.4, label="live night", color="#4c72b0")
    ax.barh(positions - 0.2, [r["tonight"] for r in rows][::-1], height=0.4, label="tonight", color="#dd8452")
    ax.set_yticks(positions)
    ax.set_yticklabels(names, fontsize=8)
    ax.set_xlabel("share of messages")
    ax.set_title(title)
    ax.legend(fontsize=8)
    return _png(fig)


def _measures_table(measures: list[dict]) -> str:
    rows = "".join(
        f"<tr class='{esc(m['status'])}'><td>{_badge(m['status'])}</td>"
        f"<td>{esc(m['measure'])}</td><td>{esc(m['subject'])}</td>"
        f"<td class='num'>{_number(m['live'])}</td><td class='num'>{_number(m['tonight'])}</td>"
        f"<td class='num'>{_number(m['value'])}</td>"
        f"<td class='num'>{m['warn']:g} / {m['alert']:g}</td><td>{esc(MEASURES[m['measure']][0])}</td></tr>"
        for m in sorted(
            measures, key=lambda m: (-["ok", "warn", "alert"].index(m["status"]), m["measure"], m["subject"])
        )
    )
    return (
        "<table><tr><th>status</th><th>measure</th><th>subject</th><th>live night</th><th>tonight</th><th>value</th>"
        f"<th>warn / alert</th><th>what</th></tr>{rows}</table>"
    )


def render_drift_report(report: dict, *, training_report_href: str | None = None) -> str:
    """The page: overall status, every measure with its status, and plots of what moved."""
    status = report["status"]
    info = "".join(
        f"<tr><th>{esc(k)}</th><td>{esc(str(v))}</td></tr>"
        for k, v in (
            ("night", report["night"]),
            ("live release", report.get("live_release") or "none"),
            ("live release's night", report.get("live_night") or "–"),
            ("rows profiled (id-hash sample)", report.get("profiled_rows")),
        )
    )
    link = (
        f"<p><a href='{esc(training_report_href)}'>Training report</a> of this night.</p>"
        if training_report_href
        else ""
    )
    if status == NOT_COMPARED:
        body = f"<p class='note'>{esc(report.get('note') or 'Nothing to compare with.')}</p>"
    else:
        details = report["details"]
        plots = "".join(f"<h3>{esc(entry['class'])}</h3>{_score_plot(entry)}" for entry in details["scores"])
        labels = _pairs_plot(details["labels"], "class", "label mix") if details["labels"] else "<p>No labels.</p>"
        movers = (
            _pairs_plot(details["rule_movers"], "rule_id", "rule hit rates: biggest movers")
            if details["rule_movers"]
            else "<p>No rules.</p>"
        )
        quarantine = (
            "".join(
                f"<tr><td>{esc(q['reason'])}</td><td class='num'>{100 * q['live']:.2f}%</td>"
                f"<td class='num'>{100 * q['tonight']:.2f}%</td></tr>"
                for q in details["quarantine_reasons"]
            )
            or "<tr><td colspan='3'>no row quarantined on either night</td></tr>"
        )
        body = (
            f"<h2>Measures</h2>{_measures_table(report['measures'])}"
            "<h2>Scores of the live model</h2><p>Left: the share of scored rows per score (0.02 wide bins). "
            "Right: the shares of the "
            f"live night's decile bins, which the PSI compares (10% each on the live night).</p>{plots}"
            f"<h2>Label mix and rules</h2><div class='plots'>{labels}{movers}</div>"
            "<h2>Quarantine reasons</h2><table><tr><th>reason</th><th>live night</th><th>tonight</th></tr>"
            f"{quarantine}</table>"
        )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sortbox drift report {esc(str(report["night"]))}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }} table {{ border-collapse: collapse; margin-bottom: 1.5em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; font-size: 13px; }}
th {{ background: #f0f0f0; text-align: left; }} td.num {{ text-align: right; font-variant-numeric: tabular-nums; }}
tr.alert {{ background: #ffebee; }} tr.warn {{ background: #fff3e0; }}
.badge {{ color: white; padding: 1px 8px; border-radius: 8px; font-weight: bold; }}
.plots {{ display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; }} .note {{ font-size: 15px; }}
</style></head><body>
<h1>Drift report: {_badge(status)}</h1>
<p>Tonight's rows against the night of the release now live, scored by the live models.
Aggregates only: no message text, no id.</p>
<table>{info}</table>
{link}
{body}
</body></html>
"""

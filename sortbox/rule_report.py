"""The rule report as HTML and CSV, from the statistics LabelMessages gathers (RuleStats rows)."""
from __future__ import annotations

import csv
import html
import io

RULE_COLUMNS = ("rule_id", "class", "pattern", "hits", "coverage", "overlap", "conflict", "precision")


def _number(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if percent else f"{value:,}"


def render_rule_report_csv(stats: dict) -> str:
    """One row per rule: RULE_COLUMNS plus the first example; precision empty without truth."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*RULE_COLUMNS, "example_id", "example_text"])
    for row in stats["rules"]:
        example = row["examples"][0] if row["examples"] else {"id": "", "text": ""}
        values = ["" if row[c] is None else (f"{row[c]:.6f}" if isinstance(row[c], float) else row[c]) for c in RULE_COLUMNS]
        writer.writerow([*values, example["id"], _defuse_formula(example["text"])])
    return buffer.getvalue()


def _defuse_formula(text: str) -> str:
    # Spreadsheets run cells starting with = + - @ as formulas: prefix a quote to keep it text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def render_rule_report_html(stats: dict) -> str:
    """A self-contained HTML page: per-class summary, per-rule table, rules that never fire."""
    esc = html.escape
    messages = stats["messages"]
    class_rows = "".join(
        f"<tr><td>{esc(c['class'])}</td><td>{c['rules']}</td><td>{c['labelled']:,}</td><td>{_number(c['coverage'])}</td>"
        f"<td>{'–' if c['truth_positives'] is None else format(c['truth_positives'], ',')}</td>"
        f"<td>{_number(c['precision'])}</td><td>{_number(c['recall'])}</td></tr>"
        for c in stats["classes"]
    )
    rule_rows = "".join(
        f"<tr class='{'silent' if r['hits'] == 0 else ''}'><td>{esc(r['rule_id'])}</td><td>{esc(r['class'])}</td>"
        f"<td><code>{esc(r['pattern'])}</code></td><td>{r['hits']:,}</td><td>{_number(r['coverage'])}</td>"
        f"<td>{_number(r['overlap'])}</td><td>{_number(r['conflict'])}</td><td>{_number(r['precision'])}</td>"
        f"<td>{'<br>'.join(esc(e['id'] + ': ' + e['text']) for e in r['examples'])}</td></tr>"
        for r in stats["rules"]
    )
    silent = [r for r in stats["rules"] if r["hits"] == 0]
    silent_items = "".join(f"<li><code>{esc(r['rule_id'])}</code> <code>{esc(r['pattern'])}</code></li>" for r in silent) or "<li>none</li>"
    truth_note = (
        "Precision and recall are measured against the label column (ground truth)."
        if stats["has_truth"]
        else "No label column is configured, so precision and recall cannot be measured."
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sortbox rule report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; }} table {{ border-collapse: collapse; margin-bottom: 2em; }}
td, th {{ border: 1px solid #ccc; padding: 3px 6px; vertical-align: top; font-size: 13px; }}
th {{ background: #f0f0f0; position: sticky; top: 0; }} tr.silent {{ background: #fff3f3; }} code {{ font-size: 12px; }}
</style></head><body>
<h1>Rule report</h1>
<p>{messages:,} messages, {len(stats['rules'])} rules, {len(silent)} never fire. {esc(truth_note)}
Coverage: share of messages a rule (or class) labels. Overlap: share of a rule's hits that another rule also hits.
Conflict: share of its hits that a rule of another class also hits. Precision: share of its hits whose truth includes its class.</p>
<h2>Classes</h2>
<table><tr><th>class</th><th>rules</th><th>labelled</th><th>coverage</th><th>messages of the class in truth</th><th>precision</th><th>recall</th></tr>{class_rows}</table>
<h2>Rules that never fire</h2><ul>{silent_items}</ul>
<h2>Rules</h2>
<table><tr><th>rule</th><th>class</th><th>pattern</th><th>hits</th><th>coverage</th><th>overlap</th><th>conflict</th><th>precision</th><th>examples</th></tr>{rule_rows}</table>
</body></html>
"""

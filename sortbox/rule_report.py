"""The rule report as HTML and CSV, from the statistics LabelMessages gathers (RuleStats rows)."""
from __future__ import annotations

import csv
import html
import io

from sortbox.html_page import page_head
from sortbox.portable_scorer import csv_safe

RULE_COLUMNS = (
    "rule_id",
    "class",
    "pattern",
    "hits",
    "coverage",
    "overlap",
    "conflict",
    "precision",
    "mostly_other_class",
    "other_class_share",
    "judged_by",
)
# The rule report's own style rules (on top of sortbox.html_page.BASE_CSS).
_CSS = """body { max-width: 1600px; } table { margin-bottom: 2em; } td.pattern, td.examples { overflow-wrap: anywhere; }
th { position: sticky; top: 0; } tr.silent { background: #fff3f3; } tr.flagged { background: #fff8e1; }
code { font-size: 12px; } td.num { white-space: nowrap; } [title] { text-decoration: underline dotted #999; cursor: help; }
table#rules { table-layout: fixed; width: 100%; } table#rules th { cursor: pointer; user-select: none; }
table#rules th.sorted-asc::after { content: " ▲"; } table#rules th.sorted-desc::after { content: " ▼"; }
.alert { border: 2px solid #e0a800; background: #fffbea; padding: 0 1em; margin-bottom: 2em; } .ok { color: #2e7d32; }
.controls { margin: 0.5em 0; } .controls label { margin-right: 1.5em; }"""
#: Characters of a pattern or an example shown in a table cell; the whole text is in its tooltip.
PATTERN_CHARS, EXAMPLE_CHARS = 90, 120


def _number(value: float | None, percent: bool = True) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f}%" if percent else f"{value:,}"


def render_rule_report_csv(stats: dict) -> str:
    """One row per rule: RULE_COLUMNS plus the first example; precision empty without truth.

    Every cell that comes from data (rule id, class, pattern, example id and text) goes through
    `csv_safe` (the same escaping as scores.csv). Lines end in CRLF (RFC 4180), so a CR or LF inside an id or text is quoted."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*RULE_COLUMNS, "example_id", "example_text"])
    for row in stats["rules"]:
        example = row["examples"][0] if row["examples"] else {"id": "", "text": ""}
        values = [_csv_value(row.get(column)) for column in RULE_COLUMNS]
        writer.writerow([*values, csv_safe(example["id"]), csv_safe(example["text"])])
    return buffer.getvalue()


def _csv_value(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    if isinstance(value, int):
        return str(value)
    return csv_safe(value)


def _clipped(text: str, limit: int, tag: str = "span") -> str:
    """`text` escaped in a `tag`, cut to `limit` characters with the whole text as its tooltip."""
    esc = html.escape
    if len(text) <= limit:
        return f"<{tag}>{esc(text)}</{tag}>"
    return f"<{tag} title='{esc(text, quote=True)}'>{esc(text[:limit])}…</{tag}>"


def _mostly(row: dict) -> str:
    if row.get("mostly_other_class") is None:
        return ""
    return f"{html.escape(row['mostly_other_class'])} ({_number(row['other_class_share'])}, by {html.escape(row['judged_by'])})"


def _row_class(row: dict) -> str:
    return " ".join(
        name for name, on in (("silent", row["hits"] == 0), ("flagged", bool(row.get("mostly_other_class")))) if on
    )


def render_rule_report_html(stats: dict) -> str:
    """A self-contained HTML page (no network): rules that work for another class first, per-class
    summary, classes without rules, rules that never fire, then the per-rule table, which sorts
    by any column and filters by class (a few lines of inline JavaScript)."""
    esc = html.escape
    messages = stats["messages"]
    rules = stats["rules"]
    class_rows = "".join(
        f"<tr><td>{esc(c['class'])}</td><td>{c['rules']}</td><td>{c['labelled']:,}</td><td>{_number(c['coverage'])}</td>"
        f"<td>{'–' if c['truth_positives'] is None else format(c['truth_positives'], ',')}</td>"
        f"<td>{_number(c['precision'])}</td><td>{_number(c['recall'])}</td></tr>"
        for c in stats["classes"]
    )
    rule_rows = "".join(
        f"<tr class='{_row_class(r)}' data-class='{esc(r['class'], quote=True)}'>"
        f"<td>{esc(r['rule_id'])}</td><td>{esc(r['class'])}</td><td class='pattern'>{_clipped(r['pattern'], PATTERN_CHARS, 'code')}</td>"
        f"<td class='num' data-v='{r['hits']}'>{r['hits']:,}</td>"
        + "".join(
            f"<td class='num' data-v='{-1 if r[k] is None else r[k]}'>{_number(r[k])}</td>"
            for k in ("coverage", "overlap", "conflict", "precision")
        )
        + f"<td>{_mostly(r)}</td>"
        f"<td class='examples'>{'<br>'.join(_clipped(e['id'] + ': ' + e['text'], EXAMPLE_CHARS) for e in r['examples'])}</td></tr>"
        for r in rules
    )
    flagged = sorted(
        (r for r in rules if r.get("mostly_other_class")),
        key=lambda r: (-r["hits"], -r["other_class_share"], r["rule_id"]),
    )
    flagged_section = (
        f"<div class='alert'><h2>Rules working for another class</h2><details open><summary>{len(flagged)} rules, most hits first: "
        "more than half of each one's hits belong to another class (by the label column when it knows the rule's class, else "
        "by that class's rules). Check the pattern, or move it to that class.</summary>"
        "<table class='flagged-list'><tr><th>rule</th><th>class</th><th>mostly</th><th>hits</th><th>pattern</th></tr>"
        + "".join(
            f"<tr><td>{esc(r['rule_id'])}</td><td>{esc(r['class'])}</td><td>{_mostly(r)}</td><td class='num'>{r['hits']:,}</td>"
            f"<td class='pattern'>{_clipped(r['pattern'], PATTERN_CHARS, 'code')}</td></tr>"
            for r in flagged
        )
        + "</table></details></div>"
        if flagged
        else "<p class='ok'>No rule has most of its hits in another class.</p>"
    )
    silent = [r for r in rules if r["hits"] == 0]
    silent_items = (
        "".join(
            f"<li><code>{esc(r['rule_id'])}</code> {_clipped(r['pattern'], PATTERN_CHARS, 'code')}</li>" for r in silent
        )
        or "<li>none</li>"
    )
    without_rules = stats.get("classes_without_rules") or {}
    without_items = (
        "".join(f"<li><code>{esc(name)}</code>: {esc(reason)}</li>" for name, reason in without_rules.items())
        or "<li>none</li>"
    )
    ignored = stats.get("ignored_files") or []
    ignored_note = f"<p>Not rule files, ignored: {esc(', '.join(map(repr, ignored)))}.</p>" if ignored else ""
    class_options = "".join(f"<option>{esc(name)}</option>" for name in sorted({r["class"] for r in rules}))
    truth_note = (
        "Precision and recall are measured against the label column (ground truth)."
        if stats["has_truth"]
        else "No label column is configured, so precision and recall cannot be measured."
    )
    return (
        page_head("sortbox rule report", _CSS)
        + f"""<h1>Rule report</h1>
<p>{messages:,} messages, {len(rules)} rules, {len(silent)} never fire, {len(flagged)} work mostly for another class. {esc(truth_note)}
Coverage: share of messages a rule (or class) labels. Overlap: share of a rule's hits that another rule also hits.
Conflict: share of its hits that a rule of another class also hits. Precision: share of its hits whose truth includes its class.</p>
{flagged_section}
<h2>Classes</h2>
<table><tr><th>class</th><th>rules</th><th>labelled</th><th>coverage</th><th>messages of the class in truth</th><th>precision</th><th>recall</th></tr>{class_rows}</table>
<h2>Classes without rules</h2><ul>{without_items}</ul>{ignored_note}
<h2>Rules that never fire</h2><ul>{silent_items}</ul>
<h2>Rules</h2>
<div class="controls"><label>class <select id="class-filter"><option value="">all</option>{class_options}</select></label>
<label><input type="checkbox" id="flagged-only"> only rules working for another class</label>
<label>find <input type="search" id="text-filter" placeholder="rule, pattern or example"></label> <span id="shown"></span></div>
<table id="rules"><colgroup><col style="width:9%"><col style="width:7%"><col style="width:22%"><col style="width:5%"><col style="width:6.5%">
<col style="width:6.5%"><col style="width:6.5%"><col style="width:6.5%"><col style="width:9%"><col style="width:22%"></colgroup>
<thead><tr><th>rule</th><th>class</th><th>pattern</th><th>hits</th><th>coverage</th><th>overlap</th><th>conflict</th><th>precision</th><th>mostly another class</th><th>examples</th></tr></thead>
<tbody>{rule_rows}</tbody></table>
<script>
(function () {{
  const table = document.getElementById("rules"), body = table.tBodies[0];
  const classFilter = document.getElementById("class-filter"), flaggedOnly = document.getElementById("flagged-only");
  const textFilter = document.getElementById("text-filter"), shown = document.getElementById("shown");
  function filter() {{
    const cls = classFilter.value, text = textFilter.value.toLowerCase();
    let count = 0;
    for (const row of body.rows) {{
      const visible = (!cls || row.dataset.class === cls) && (!flaggedOnly.checked || row.classList.contains("flagged"))
        && (!text || row.textContent.toLowerCase().includes(text) || [...row.querySelectorAll("[title]")].some(e => e.title.toLowerCase().includes(text)));
      row.style.display = visible ? "" : "none";
      count += visible;
    }}
    shown.textContent = count + " of " + body.rows.length + " rules shown";
  }}
  function value(row, column) {{
    const cell = row.cells[column];
    return cell.dataset.v !== undefined ? parseFloat(cell.dataset.v) : cell.textContent.toLowerCase();
  }}
  table.tHead.rows[0].querySelectorAll("th").forEach((th, column) => th.addEventListener("click", () => {{
    const descending = th.classList.contains("sorted-asc");
    table.tHead.querySelectorAll("th").forEach(h => h.classList.remove("sorted-asc", "sorted-desc"));
    th.classList.add(descending ? "sorted-desc" : "sorted-asc");
    const rows = [...body.rows].sort((a, b) => {{
      const x = value(a, column), y = value(b, column);  // numbers, or text compared as spam.txt:9 < spam.txt:10
      const order = typeof x === "number" ? x - y : x.localeCompare(y, undefined, {{numeric: true}});
      return order * (descending ? -1 : 1);
    }});
    rows.forEach(row => body.appendChild(row));
  }}));
  [classFilter, flaggedOnly, textFilter].forEach(e => e.addEventListener("input", filter));
  filter();
}})();
</script>
</body></html>
"""
    )

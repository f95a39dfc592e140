"""The training report: one self-contained HTML page per training run, with PNG plots beside it.

Pure rendering: the caller passes the content of classes.json (per-class grid search and
cross-validation results), the label counts and run information, and a directory to write into.
"""
from __future__ import annotations

import html
import json
import re
from pathlib import Path
from typing import Callable

import matplotlib

# Agg renders to files without a display; it must be chosen before pyplot is imported,
# or pyplot would pick an interactive backend on machines that have one.
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sortbox.html_page import page_head  # noqa: E402

FIGSIZE = (5, 4)
DPI = 100
# Class names become file names (roc_<class>.png), so anything else could escape out_dir or break the link.
CLASS_NAME = re.compile(r"[A-Za-z0-9_-]+")
DASH = "–"

esc = html.escape


def render_training_report(
    out_dir: Path,
    *,
    classes: dict,
    label_counts: dict[str, int],
    messages: int,
    rule_report_href: str | None,
    run_info: dict,
    training_sample: dict | None = None,
    drift_report_href: str | None = None,
    progress: Callable[[int, int], None] | None = None,
    feedback: dict | None = None,
    page_name: str = "report.html",
) -> Path:
    """Write the page (`page_name`) and PNG plots into out_dir (exists, empty); return the page's path.

    classes is the content of classes.json: class name -> {status "trained" | "skipped", reason, grid, cv}.
    label_counts maps a class to its number of training messages; messages is the total number of messages.
    rule_report_href is a link to the rule report relative to out_dir, or None when there is none.
    training_sample is EmbedMessages' summary (messages, held_out, without_known_terms, eligible,
    trained_on, max_rows): it explains why a class's positives are fewer than its labelled messages.
    drift_report_href is a link to a night's drift report, or None. progress(done, total) is called as
    each of the plots' parts (label chart, each class) is drawn.
    """
    out_dir = Path(out_dir)
    for name in classes:
        if not CLASS_NAME.fullmatch(name):
            raise ValueError(f"class name {name!r} is not [A-Za-z0-9_-]+ and cannot name a plot file")

    report = progress or (lambda done, total: None)
    parts = 1 + len(classes)
    labels_png = _plot_label_distribution(out_dir / "labels.png", label_counts, messages) if label_counts else None
    report(1, parts)
    sections = []
    for number, (name, entry) in enumerate(classes.items(), start=2):
        if entry["status"] == "trained":
            roc_png = _plot_roc(out_dir / f"roc_{name}.png", name, entry["cv"])
            pr_png = _plot_precision_recall(out_dir / f"pr_{name}.png", name, entry["cv"])
            sections.append(_trained_section(name, entry, roc_png, pr_png))
        else:
            sections.append(_skipped_section(name, entry))
        report(number, parts)

    page = _page(
        run_info=run_info,
        labels_section=_labels_section(labels_png, label_counts, messages),
        summary=_summary_table(classes) + _training_sample_note(training_sample) + feedback_section(feedback),
        sections="".join(sections),
        rule_report_href=rule_report_href,
        drift_report_href=drift_report_href,
    )
    path = out_dir / page_name
    path.write_text(page, encoding="utf-8")
    return path


# ---------------------------------------------------------------- formatting


def _score(value: float | None, digits: int = 4) -> str:
    """A score or threshold with fixed decimals, or a dash when absent."""
    return DASH if value is None else f"{value:.{digits}f}"


def _share(count: int, total: int) -> float:
    """count / total as a percentage; 0 for an empty run rather than a division error."""
    return 100.0 * count / total if total else 0.0


def _params(params: dict | None) -> str:
    """Hyper-parameters as 'C=0.1, class_weight=balanced' (escaped), or a dash."""
    if not params:
        return DASH
    return esc(", ".join(f"{k}={_value(v)}" for k, v in params.items()))


def _value(value: object) -> str:
    """A run-info or parameter value as text: JSON for containers and null, str otherwise."""
    return json.dumps(value) if value is None or isinstance(value, (dict, list, tuple, bool)) else str(value)


def _positives(entry: dict) -> int | None:
    """Positive training messages of a class: grid search and cross-validation both record them."""
    for stage in ("grid", "cv"):
        if "positives" in entry.get(stage, {}):
            return entry[stage]["positives"]
    return None


def _auc_with_spread(figures: dict) -> str:
    """'0.9974 ± 0.0012' (the spread: standard deviation of the per-fold ROC AUC), or the bare
    figure when the spread was not recorded, or a dash."""
    if not figures or figures.get("roc_auc") is None:
        return DASH
    spread = figures.get("roc_auc_folds") or {}
    if not spread.get("folds"):
        return _score(figures["roc_auc"])
    return f"{_score(figures['roc_auc'])} ± {_score(spread['std'])}"


def _measured(figures: dict) -> str:
    """What a figure is measured against and on how many positives, e.g. 'rule labels, 706 positives'."""
    parts = [esc(str(figures["measured_against"]))] if figures.get("measured_against") else []
    if figures.get("positives") is not None:
        parts.append(f"{figures['positives']:,} positives")
    return ", ".join(parts) or DASH


def _spread_sentence(figures: dict) -> str:
    """The per-fold spread of a ROC AUC in words, or '' when it was not recorded."""
    spread = figures.get("roc_auc_folds") or {}
    if not spread.get("folds"):
        return ""
    return (
        f" Per fold ({spread['folds']} folds): mean {_score(spread['mean'])}, standard deviation {_score(spread['std'])}, "
        f"from {_score(spread['min'])} to {_score(spread['max'])}."
    )


# ---------------------------------------------------------------- plots


def _save(fig: plt.Figure, path: Path) -> Path:
    """Save and close the figure: pyplot keeps every open figure alive, so each must be closed."""
    try:
        fig.tight_layout()
        fig.savefig(path, dpi=DPI)
    finally:
        plt.close(fig)
    return path


def _plot_label_distribution(path: Path, label_counts: dict[str, int], messages: int) -> Path:
    """Horizontal bars of messages per class, each annotated with its count and share of all messages."""
    names = list(label_counts)
    counts = [label_counts[n] for n in names]
    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    # Reversed so the first class is at the top, in the same order as the tables.
    bars = ax.barh(names[::-1], counts[::-1], color="#4c72b0")
    for bar, count in zip(bars, counts[::-1]):
        ax.annotate(
            f" {count:,} ({_share(count, messages):.1f}%)",
            (bar.get_width(), bar.get_y() + bar.get_height() / 2),
            va="center",
            fontsize=9,
        )
    # Room on the right for the annotation of the longest bar.
    ax.set_xlim(0, max(max(counts), 1) * 1.45)
    ax.set_xlabel("training messages labelled with the class")
    ax.set_title(f"Label distribution ({messages:,} messages)")
    return _save(fig, path)


def _operating_point(fpr: np.ndarray, tpr: np.ndarray, recall: float) -> tuple[float, float]:
    """The ROC point of the chosen threshold: its recall is the TPR, so take the point with the nearest TPR.

    Several points can share that TPR (a horizontal run of the curve); the threshold reaching it first
    has the fewest false positives, and that is the one a threshold policy picks, so ties go to the lowest FPR.
    """
    order = np.lexsort((fpr, np.abs(tpr - recall)))
    return float(fpr[order[0]]), float(tpr[order[0]])


def _plot_roc(path: Path, name: str, cv: dict) -> Path:
    """ROC curve with the chance diagonal, the AUC in the legend and the chosen threshold's operating point."""
    fpr = np.asarray(cv["curves"]["roc"]["fpr"], dtype=float)
    tpr = np.asarray(cv["curves"]["roc"]["tpr"], dtype=float)
    threshold = cv["threshold"]
    point_fpr, point_tpr = _operating_point(fpr, tpr, threshold["recall"])

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.plot(fpr, tpr, color="#4c72b0", lw=1.5, label=f"ROC (AUC {cv['roc_auc']:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="chance")
    ax.plot(
        point_fpr,
        point_tpr,
        "o",
        color="#c44e52",
        label=f"threshold {threshold['threshold']:.3f} (TPR {point_tpr:.2f}, FPR {point_fpr:.3f})",
    )
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positive rate")
    ax.set_ylabel("true positive rate (recall)")
    ax.set_title(f"{name}: cross-validated ROC")
    ax.legend(loc="lower right", fontsize=8)
    return _save(fig, path)


def _plot_precision_recall(path: Path, name: str, cv: dict) -> Path:
    """Precision, recall and F1 against the decision threshold, the chosen threshold as a labelled vertical line."""
    pr = cv["curves"]["pr"]
    thresholds = np.asarray(pr["threshold"], dtype=float)
    # sklearn's precision_recall_curve ends precision and recall with a point that has no threshold; drop it.
    precision = np.asarray(pr["precision"], dtype=float)[: len(thresholds)]
    recall = np.asarray(pr["recall"], dtype=float)[: len(thresholds)]
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(denominator), where=denominator > 0)
    chosen = cv["threshold"]

    fig, ax = plt.subplots(figsize=FIGSIZE, dpi=DPI)
    ax.plot(thresholds, precision, color="#4c72b0", lw=1.5, label="precision")
    ax.plot(thresholds, recall, color="#55a868", lw=1.5, label="recall")
    ax.plot(thresholds, f1, color="#8172b2", lw=1, ls=":", label="F1")
    ax.axvline(chosen["threshold"], color="#c44e52", lw=1.2, ls="--")
    ax.annotate(
        f"threshold {chosen['threshold']:.3f} ({chosen['policy']})\n"
        f"P {chosen['precision']:.2f}  R {chosen['recall']:.2f}  F1 {chosen['f1']:.2f}",
        xy=(chosen["threshold"], 0.03),
        xytext=(4, 0),
        textcoords="offset points",
        # Keep the label inside the axes: to the left of the line when the threshold is far right.
        ha="right" if chosen["threshold"] > 0.6 else "left",
        fontsize=8,
        color="#c44e52",
        bbox={"boxstyle": "round", "fc": "white", "ec": "#c44e52", "alpha": 0.9},
    )
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("decision threshold (predicted probability)")
    ax.set_ylabel("score")
    ax.set_title(f"{name}: precision and recall vs threshold")
    ax.legend(loc="center left", fontsize=8)
    return _save(fig, path)


# ---------------------------------------------------------------- HTML


def _img(path: Path, alt: str) -> str:
    """An <img> referencing the plot by its bare file name: the page and its plots share out_dir."""
    width, height = (int(d * DPI) for d in FIGSIZE)
    return f"<img src='{esc(path.name)}' alt='{esc(alt)}' width='{width}' height='{height}'>"


def _labels_section(labels_png: Path | None, label_counts: dict[str, int], messages: int) -> str:
    """The label distribution: chart and table, or a note when no message carries a label."""
    if labels_png is None:
        return "<p>No training labels.</p>"
    rows = "".join(
        f"<tr><td>{esc(name)}</td><td class='num'>{count:,}</td><td class='num'>{_share(count, messages):.1f}%</td></tr>"
        for name, count in label_counts.items()
    )
    return (
        f"<p>{messages:,} messages. A message can carry several labels, so the shares need not add up to 100%.</p>"
        f"<div class='plots'>{_img(labels_png, 'label distribution')}"
        f"<table><tr><th>class</th><th>messages</th><th>% of messages</th></tr>{rows}</table></div>"
    )


def _summary_table(classes: dict) -> str:
    """One row per class: status (reason if skipped), positives, cross-validated scores, threshold, best params."""
    rows = []
    for name, entry in classes.items():
        positives = _positives(entry)
        positives_cell = DASH if positives is None else f"{positives:,}"
        if entry["status"] != "trained":
            rows.append(
                f"<tr class='skipped'><td><a href='#class-{esc(name)}'>{esc(name)}</a></td><td>{esc(entry['status'])}</td>"
                f"<td class='num'>{positives_cell}</td><td colspan='11' class='reason'>{esc(str(entry.get('reason')))}</td></tr>"
            )
            continue
        cv = entry["cv"]
        threshold = cv["threshold"]
        against_truth = cv.get("against_truth") or {}
        warning = entry["grid"].get("edge_warning")
        params_cell = _params(entry["grid"].get("best_params")) + (
            f" <span class='warn' title='{esc(warning)}'>(on the edge of the grid)</span>" if warning else ""
        )
        rows.append(
            f"<tr><td><a href='#class-{esc(name)}'>{esc(name)}</a></td><td>{esc(entry['status'])}</td>"
            f"<td class='num'>{positives_cell}</td><td>{_measured(cv)}</td><td class='num'>{_auc_with_spread(cv)}</td>"
            f"<td class='num'>{_score(cv['pr_auc'])}</td><td class='num'>{_auc_with_spread(against_truth)}</td><td>{_measured(against_truth) if against_truth else DASH}</td>"
            f"<td class='num'>{_score(threshold['threshold'])}</td><td>{_policy(threshold)}</td>"
            f"<td class='num'>{_score(threshold['precision'], 3)}</td><td class='num'>{_score(threshold['recall'], 3)}</td>"
            f"<td class='num'>{_score(threshold['f1'], 3)}</td><td>{params_cell}</td></tr>"
        )
    return (
        "<table><tr><th>class</th><th>status</th><th>positives</th><th>CV measured against</th><th>CV ROC AUC ± fold std</th><th>CV PR AUC</th>"
        "<th>ROC AUC against truth ± fold std</th><th>truth</th><th>threshold</th><th>policy</th><th>precision</th><th>recall</th><th>F1</th>"
        f"<th>best params</th></tr>{''.join(rows)}</table>"
    )


def _training_sample_note(sample: dict | None) -> str:
    """Why the positives column is smaller than the labelled messages of the label table."""
    if not sample:
        return ""
    beyond = sample["eligible"] - sample["trained_on"]
    capped = f", and {beyond:,} beyond <code>[training] max_rows</code> ({sample['max_rows']:,})" if beyond else ""
    return (
        f"<p class='note'>Positives count the labelled messages the classifiers were trained on: "
        f"{sample['trained_on']:,} of the {sample['messages']:,} messages. Not trained on: "
        f"{sample['held_out']:,} held-out ids (<code>[training] holdout_fraction</code>, by id hash: the publish gate "
        f"compares the new and the published model on them), {sample['without_known_terms']:,} messages with no known term"
        f"{capped}. So a class has fewer positives here than labelled messages in the table above.</p>"
    )


def _policy(threshold: dict) -> str:
    """The threshold policy, with its target when the policy has one (e.g. a minimum precision)."""
    target = threshold.get("target")
    return esc(threshold["policy"] if target is None else f"{threshold['policy']} (target {target})")


def _grid_table(grid: dict) -> str:
    """The grid-search candidates sorted by rank, one column per hyper-parameter, the best row highlighted."""
    table = grid.get("table")
    if not table:
        return f"<p>No grid search table (grid status: {esc(str(grid.get('status')))}).</p>"
    keys = sorted({k for row in table for k in row["params"]})
    header = "".join(f"<th>{esc(k)}</th>" for k in keys)
    rows = "".join(
        f"<tr class='{'best' if row['rank'] == 1 else ''}'><td class='num'>{row['rank']}</td>"
        + "".join(f"<td>{esc(_value(row['params'].get(k)))}</td>" for k in keys)
        + f"<td class='num'>{_score(row['mean_score'])}</td><td class='num'>{_score(row['std_score'])}</td>"
        f"<td class='num seconds'>{row['fit_seconds']:.2f}</td></tr>"
        for row in sorted(table, key=lambda r: r["rank"])
    )
    return (
        f"<p>Scoring: {esc(str(grid.get('scoring')))}; best score {_score(grid.get('best_score'))} with "
        f"{_params(grid.get('best_params'))}. {grid.get('positives', 0):,} positives, {grid.get('negatives', 0):,} negatives.</p>"
        f"<table><tr><th>rank</th>{header}<th>mean {esc(str(grid.get('scoring')))}</th><th>std</th><th>fit seconds</th></tr>"
        f"{rows}</table>"
    )


def _trained_section(name: str, entry: dict, roc_png: Path, pr_png: Path) -> str:
    """A trained class: what its figures are measured against, a warning when its best C is on
    the edge of the grid, its two plots and its grid-search table."""
    cv = entry["cv"]
    figures = f"<p>Cross-validated ROC AUC {_score(cv['roc_auc'])} against {_measured(cv)}.{_spread_sentence(cv)}"
    against_truth = cv.get("against_truth")
    if against_truth:
        figures += f" The same out-of-fold scores against {_measured(against_truth)}: ROC AUC {_score(against_truth['roc_auc'])}.{_spread_sentence(against_truth)}"
    figures += "</p>"
    warning = entry["grid"].get("edge_warning")
    if warning:
        figures += f"<div class='skip'><strong>Regularisation on the edge of the grid:</strong> {esc(warning)}</div>"
    return (
        f"<h3 id='class-{esc(name)}'>{esc(name)}</h3>{figures}"
        f"<div class='plots'>{_img(roc_png, f'ROC curve of {name}')}"
        f"{_img(pr_png, f'precision and recall against threshold of {name}')}</div>"
        f"<h4>Grid search</h4>{_grid_table(entry['grid'])}"
    )


def _skipped_section(name: str, entry: dict) -> str:
    """A skipped class: no plots, only why it was skipped, set apart so it is not overlooked."""
    return (
        f"<h3 id='class-{esc(name)}'>{esc(name)}</h3>"
        f"<div class='skip'><strong>Not trained ({esc(entry['status'])}):</strong> {esc(str(entry.get('reason')))}</div>"
    )


def feedback_section(feedback: dict | None) -> str:
    """Per class precision and recall against the reviewed messages (EvaluateFeedback's
    feedback.json), with counts and 95% Wilson intervals, next to the CV figures."""
    if not feedback or not feedback.get("classes"):
        return "<h3>Against reviewed messages</h3><p>No reviewed verdicts for this run ([feedback] path or table).</p>"

    def figure(f: dict) -> str:
        if f["value"] is None:
            return f"{DASH} (0)"
        low, high = f["ci95"]
        return f"{f['value']:.3f} [{low:.2f}, {high:.2f}] (n={f['count']})"

    rows = "".join(
        f"<tr><td>{esc(name)}</td><td class='num'>{f['reviewed']}</td><td class='num'>{f['reviewed_yes']}</td>"
        f"<td class='num'>{figure(f['precision'])}</td><td class='num'>{figure(f['recall'])}</td></tr>"
        for name, f in feedback["classes"].items()
    )
    left_out = feedback.get("unknown_ids", 0), sum(feedback.get("unknown_classes", {}).values())
    note = f"<p>Left out: {left_out[0]} verdicts about messages not in this run, {left_out[1]} about classes the model lacks.</p>"
    return (
        "<h3>Against reviewed messages</h3><p>The run's decisions against people's verdicts (yes/no), 95% Wilson intervals.</p>"
        "<table><tr><th>class</th><th>reviewed</th><th>reviewed yes</th><th>precision</th><th>recall</th></tr>"
        f"{rows}</table>{note}"
    )


def _page(
    *,
    run_info: dict,
    labels_section: str,
    summary: str,
    sections: str,
    rule_report_href: str | None,
    drift_report_href: str | None = None,
) -> str:
    """The whole page around the pre-rendered (already escaped) parts."""
    info_rows = "".join(f"<tr><th>{esc(str(k))}</th><td>{esc(_value(v))}</td></tr>" for k, v in run_info.items())
    rule_link = (
        f"<p><a href='{esc(rule_report_href)}'>Rule report</a>: how the regex rules produced the training labels.</p>"
        if rule_report_href is not None
        else "<p>No rule report for this run.</p>"
    )
    if drift_report_href is not None:
        rule_link += f"<p><a href='{esc(drift_report_href)}'>Drift report</a>: this night against the night of the release that was live.</p>"
    return (
        page_head(
            "sortbox training report",
            """table { margin-bottom: 1.5em; }
th { text-align: left; } td.num { font-variant-numeric: tabular-nums; }
tr.best { background: #e8f5e9; font-weight: bold; } tr.skipped { background: #fff3f3; }
td.reason { color: #a40000; font-weight: bold; } .warn { color: #a40000; font-weight: bold; }
.skip { border-left: 5px solid #c44e52; background: #fff3f3; padding: 0.6em 1em; margin-bottom: 1.5em; }
.plots { display: flex; flex-wrap: wrap; gap: 1em; align-items: flex-start; margin-bottom: 1em; }""",
        )
        + f"""<h1>Training report</h1>
<table>{info_rows}</table>
{rule_link}
<h2>Label distribution</h2>
{labels_section}
<h2>Classes</h2>
<p>Scores are cross-validated: each message is scored by a model that did not see it. "CV measured against" says which
labels they are compared with (the rules' labels or a label column) and on how many positives; "± fold std" is the
standard deviation of the ROC AUC over the folds. "Against truth" compares the same out-of-fold scores with the
ground-truth column when the training labels came from the rules. The threshold is the operating point chosen by the
policy.</p>
{summary}
<h2>Per class</h2>
{sections}
</body></html>
"""
    )

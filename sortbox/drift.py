"""Night-to-night drift: what changed between the night of the live release and tonight.

A *profile* holds the aggregate statistics of one night's rows, never a text or an id: rows
extracted and quarantine reasons, the label mix, rule hit counts, and per class how that class's
model sees the rows (words unknown to its vocabulary, unscorable rows, score deciles and a
1,000-bin score histogram). Every release carries the profile of its own night under its own
models; tonight's profile under the live models is compared with it measure by measure, and each
measure is ok, warn or alert against its thresholds (`Limits`). The report's status is the worst.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np

from sortbox.portable_scorer import PortableModel
from sortbox.sampling import sample_hash

STATUSES = ("ok", "warn", "alert")
#: The status of a night with nothing to compare with (no live release, or one without a profile).
NOT_COMPARED = "n/a"
HISTOGRAM_BINS = 1000
DECILES = tuple(q / 10 for q in range(1, 10))
#: Shares below this count as this in the population stability index (an empty bin is not infinite drift).
PSI_FLOOR = 1e-4
SCORE_CHUNK = 5_000

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class Limits:
    """A measure is `warn` from `warn` on and `alert` from `alert` on (absolute values)."""

    warn: float
    alert: float

    def __post_init__(self) -> None:
        if not 0 <= self.warn <= self.alert:
            raise ValueError(f"drift thresholds need 0 <= warn <= alert, got warn {self.warn}, alert {self.alert}")

    def status(self, value: float) -> str:
        value = abs(value)
        return "alert" if value >= self.alert else "warn" if value >= self.warn else "ok"


#: What each measure is, and its default thresholds ([drift] <measure>_warn / <measure>_alert).
MEASURES: dict[str, tuple[str, Limits]] = {
    "rows_change": ("relative change of the rows extracted", Limits(0.5, 0.8)),
    "quarantine_share": ("change of the share of rows quarantined (absolute)", Limits(0.02, 0.05)),
    "label_share": ("change of the share of messages labelled with the class (absolute)", Limits(0.05, 0.10)),
    "rule_hit_rate": ("change of the share of messages a rule hits (absolute; biggest movers)", Limits(0.05, 0.10)),
    "unknown_word_share": ("change of the share of words the class model does not know (absolute)", Limits(0.05, 0.10)),
    "unscorable_share": ("change of the share of rows the class model cannot score (absolute)", Limits(0.02, 0.05)),
    "score_psi": (
        "population stability index of the live model's scores (bins: the live night's deciles)",
        Limits(0.10, 0.25),
    ),
    "score_ks": ("Kolmogorov-Smirnov statistic of the live model's scores", Limits(0.10, 0.20)),
    "auc_drop": ("held-out ROC AUC of the champion minus the challenger's", Limits(0.02, 0.05)),
}


def worst_status(statuses: Sequence[str]) -> str:
    """The worst of ok < warn < alert; `NOT_COMPARED` when there is none."""
    ranked = [s for s in statuses if s in STATUSES]
    return max(ranked, key=STATUSES.index) if ranked else NOT_COMPARED


def sample_rows(ids: Sequence[object], *, max_rows: int, seed: int = 0) -> np.ndarray:
    """Positions (ascending) of at most `max_rows` ids, those whose hash sorts lowest: the same
    ids whatever the row order, so a night's profile does not depend on how rows came back."""
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    if len(ids) <= max_rows:
        return np.arange(len(ids), dtype=np.int64)
    hashes = np.array([sample_hash(seed, i) for i in ids], dtype="S16")
    return np.sort(np.argsort(hashes, kind="stable")[:max_rows]).astype(np.int64)


def bin_shares(scores: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    """Share of `scores` in each of the len(edges) + 1 bins (-inf, e1), [e1, e2), ..., [ek, inf)."""
    scores = np.asarray(scores, dtype=np.float64)
    if len(scores) == 0:
        return np.zeros(len(edges) + 1)
    counts = np.bincount(
        np.searchsorted(np.asarray(edges, dtype=np.float64), scores, side="right"), minlength=len(edges) + 1
    )
    return counts / len(scores)


def population_stability_index(
    expected: Sequence[float], actual: Sequence[float], *, floor: float = PSI_FLOOR
) -> float:
    """PSI = sum over bins of (actual - expected) * ln(actual / expected), shares floored at `floor`."""
    e = np.maximum(np.asarray(expected, dtype=np.float64), floor)
    a = np.maximum(np.asarray(actual, dtype=np.float64), floor)
    if e.shape != a.shape:
        raise ValueError(f"PSI needs the same bins on both sides, got {e.shape} and {a.shape}")
    return float(np.sum((a - e) * np.log(a / e)))


def ks_statistic(histogram_a: Sequence[int], histogram_b: Sequence[int]) -> float:
    """The largest gap between the two cumulative distributions, on the histograms' common bins
    (1,000 bins of width 0.001 over [0, 1]: exact up to the mass of one bin)."""
    a = np.asarray(histogram_a, dtype=np.float64)
    b = np.asarray(histogram_b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"KS needs histograms over the same bins, got {a.shape} and {b.shape}")
    if a.sum() == 0 or b.sum() == 0:
        return 0.0
    return float(np.max(np.abs(np.cumsum(a) / a.sum() - np.cumsum(b) / b.sum())))


def score_summary(scores: np.ndarray) -> dict:
    """Deciles, the shares of the scores in the decile bins (1/10 each, up to ties) and the histogram."""
    scores = np.asarray(scores, dtype=np.float64)
    deciles = np.quantile(scores, DECILES).tolist() if len(scores) else []
    edges = sorted(set(deciles))
    return {
        "scored": int(len(scores)),
        "deciles": deciles,
        "decile_edges": edges,
        "decile_shares": bin_shares(scores, edges).tolist(),
        "histogram": np.histogram(np.clip(scores, 0.0, 1.0), bins=HISTOGRAM_BINS, range=(0.0, 1.0))[0]
        .astype(int)
        .tolist(),
    }


def model_statistics(
    model: dict,
    texts: Sequence[str | None],
    *,
    term_counts: Sequence[int] | None = None,
    min_count: int = 1,
    progress: Progress | None = None,
) -> tuple[dict[str, dict], dict[str, np.ndarray]]:
    """How one model JSON sees `texts`, with its own cleaning, words and vocabulary.

    Returns (class -> {"rows", "words", "unknown_words", "unscorable"} plus `score_summary` of the
    class's scores on the scorable rows; class -> those scores). A word is a token of the model's
    pattern that is not a stopword; it is unknown when it is not a surface form of the vocabulary.

    `texts` the model was trained on know every word frequent enough by construction, so their
    unknown share would be too low next to new rows. Given `term_counts` (the training count of
    each vocabulary term) and `min_count` (the vocabulary's minimum count), a word is counted
    leave-one-out instead: unknown unless its term would stay in the vocabulary without this
    message (count minus its occurrences here >= min_count), as for a message the model never saw.
    `progress(done, total)` is called after every chunk of texts.
    """
    from sortbox.scoring import VectorModel  # scipy: only when a model scores

    portable, vector = PortableModel(model), VectorModel(model)
    find_words, stopwords, known_forms = portable.token_pattern.findall, portable.stopwords, portable.surface_forms
    words = unknown = unscorable = 0
    scores: list[np.ndarray] = []
    total = len(texts)
    for start in range(0, total, SCORE_CHUNK):
        cleaned = []
        for text in texts[start : start + SCORE_CHUNK]:
            clean, reason = portable.clean(text)
            if reason:
                unscorable += 1
                continue
            terms = [known_forms.get(w) for w in find_words(clean) if w not in stopwords]
            words += len(terms)
            if term_counts is None:
                unknown += terms.count(None)
            else:
                here = Counter(terms)
                unknown += sum(1 for t in terms if t is None or term_counts[t] - here[t] < min_count)
            cleaned.append(clean)
        if cleaned:
            probabilities, known = vector.score(cleaned)
            unscorable += int((~known).sum())
            scores.append(probabilities[known])
        if progress is not None:
            progress(min(start + SCORE_CHUNK, total), total)
    matrix = np.vstack(scores) if scores else np.zeros((0, len(vector.class_names)))
    common = {"rows": total, "words": words, "unknown_words": unknown, "unscorable": unscorable}
    by_class = {name: matrix[:, column] for column, name in enumerate(vector.class_names)}
    return {name: {**common, **score_summary(values)} for name, values in by_class.items()}, by_class


def night_profile(
    *,
    extracted: int,
    quarantine_reasons: Mapping[str, int],
    label_messages: int,
    label_counts: Mapping[str, int],
    rules: Sequence[Mapping],
    models: Mapping[str, dict],
) -> dict:
    """One night's profile: `rules` are {"rule_id", "class", "hits"} over the `label_messages`
    labelled messages; `models` maps class -> `model_statistics` entry. Aggregates only."""
    return {
        "rows": {
            "extracted": int(extracted),
            "quarantined": int(sum(quarantine_reasons.values())),
            "quarantine_reasons": {k: int(v) for k, v in sorted(quarantine_reasons.items())},
        },
        "labels": {"messages": int(label_messages), "classes": {k: int(v) for k, v in sorted(label_counts.items())}},
        "rules": {str(r["rule_id"]): {"class": r["class"], "hits": int(r["hits"])} for r in rules},
        "models": {name: dict(entry) for name, entry in sorted(models.items())},
    }


def _share(part: float, whole: float) -> float:
    return float(part) / whole if whole else 0.0


def _measure(
    limits: Mapping[str, Limits], name: str, subject: str, live: float | None, tonight: float | None, value: float
) -> dict:
    return {
        "measure": name,
        "subject": subject,
        "live": live,
        "tonight": tonight,
        "value": float(value),
        "warn": limits[name].warn,
        "alert": limits[name].alert,
        "status": limits[name].status(value),
    }


def compare_profiles(
    live: dict,
    tonight: dict,
    tonight_scores: Mapping[str, np.ndarray],
    held_out: Mapping[str, Mapping],
    *,
    limits: Mapping[str, Limits],
    top_movers: int = 5,
) -> dict:
    """Every drift measure of tonight's profile (under the live models; `tonight_scores` are those
    models' raw scores on tonight's scorable rows) against the live night's, with its status.

    `held_out` maps class -> the gate's comparison ({"challenger_roc_auc", "champion_roc_auc"},
    absent when there was nothing to compare). Returns {"status", "measures": [...], "details"}.
    """
    measures: list[dict] = []
    live_rows, rows = live["rows"], tonight["rows"]
    measures.append(
        _measure(
            limits,
            "rows_change",
            "rows extracted",
            live_rows["extracted"],
            rows["extracted"],
            _share(rows["extracted"] - live_rows["extracted"], live_rows["extracted"]),
        )
    )
    live_q, q = _share(live_rows["quarantined"], live_rows["extracted"]), _share(rows["quarantined"], rows["extracted"])
    measures.append(_measure(limits, "quarantine_share", "rows quarantined", live_q, q, q - live_q))
    reasons = sorted(set(live_rows["quarantine_reasons"]) | set(rows["quarantine_reasons"]))
    quarantine_table = [
        {
            "reason": r,
            "live": _share(live_rows["quarantine_reasons"].get(r, 0), live_rows["extracted"]),
            "tonight": _share(rows["quarantine_reasons"].get(r, 0), rows["extracted"]),
        }
        for r in reasons
    ]

    live_labels, labels = live["labels"], tonight["labels"]
    label_table = []
    for name in sorted(set(live_labels["classes"]) | set(labels["classes"])):
        before = _share(live_labels["classes"].get(name, 0), live_labels["messages"])
        after = _share(labels["classes"].get(name, 0), labels["messages"])
        label_table.append({"class": name, "live": before, "tonight": after})
        measures.append(_measure(limits, "label_share", name, before, after, after - before))

    movers = []
    for rule_id in sorted(set(live["rules"]) | set(tonight["rules"])):
        before_rule, after_rule = live["rules"].get(rule_id), tonight["rules"].get(rule_id)
        before = _share(before_rule["hits"], live_labels["messages"]) if before_rule else 0.0
        after = _share(after_rule["hits"], labels["messages"]) if after_rule else 0.0
        movers.append(
            {
                "rule_id": rule_id,
                "class": (after_rule or before_rule)["class"],
                "live": before,
                "tonight": after,
                "change": after - before,
            }
        )
    movers.sort(key=lambda m: (-abs(m["change"]), m["rule_id"]))
    for mover in movers[:top_movers]:
        measures.append(
            _measure(limits, "rule_hit_rate", mover["rule_id"], mover["live"], mover["tonight"], mover["change"])
        )

    score_table = []
    for name in sorted(set(live["models"]) & set(tonight["models"])):
        before_model, after_model = live["models"][name], tonight["models"][name]
        before = _share(before_model["unknown_words"], before_model["words"])
        after = _share(after_model["unknown_words"], after_model["words"])
        measures.append(_measure(limits, "unknown_word_share", name, before, after, after - before))
        before = _share(before_model["unscorable"], before_model["rows"])
        after = _share(after_model["unscorable"], after_model["rows"])
        measures.append(_measure(limits, "unscorable_share", name, before, after, after - before))
        if before_model["scored"] and after_model["scored"]:
            edges = before_model["decile_edges"]
            shares = bin_shares(tonight_scores[name], edges)
            psi = population_stability_index(before_model["decile_shares"], shares)
            ks = ks_statistic(before_model["histogram"], after_model["histogram"])
            measures.append(_measure(limits, "score_psi", name, None, None, psi))
            measures.append(_measure(limits, "score_ks", name, None, None, ks))
            score_table.append(
                {
                    "class": name,
                    "decile_edges": edges,
                    "live_shares": before_model["decile_shares"],
                    "tonight_shares": shares.tolist(),
                    "live_histogram": before_model["histogram"],
                    "tonight_histogram": after_model["histogram"],
                }
            )
    for name, entry in sorted(held_out.items()):
        if entry.get("challenger_roc_auc") is not None and entry.get("champion_roc_auc") is not None:
            champion, challenger = entry["champion_roc_auc"], entry["challenger_roc_auc"]
            measures.append(_measure(limits, "auc_drop", name, champion, challenger, max(0.0, champion - challenger)))
    return {
        "status": worst_status([m["status"] for m in measures]),
        "measures": measures,
        "details": {
            "quarantine_reasons": quarantine_table,
            "labels": label_table,
            "rule_movers": movers[:top_movers],
            "scores": score_table,
        },
    }


def release_profile(tonight_common: dict, models: Mapping[str, dict]) -> dict:
    """The profile a release carries: tonight's rows, and per class the statistics of the model the
    release holds for it (tonight's challenger where it is published, the kept champion otherwise)."""
    return {
        **{k: v for k, v in tonight_common.items() if k != "models"},
        "models": {name: dict(entry) for name, entry in sorted(models.items())},
    }


def profiled_texts(messages_path, *, max_rows: int) -> list[str]:
    """The texts of the night's profiled rows: a deterministic id-hash sample of at most `max_rows`
    of the extracted messages (a Parquet file with id and text)."""
    import pyarrow.parquet as pq

    messages = pq.read_table(messages_path, columns=["id", "text"])
    rows = sample_rows(messages.column("id").to_pylist(), max_rows=max_rows)
    return messages.column("text").take(rows).to_pylist()


def night_drift(
    *,
    night: str,
    challenger: dict,
    texts: Sequence[str],
    term_counts: Sequence[int],
    min_count: int,
    live_name: str | None,
    live_night: str | None,
    live_models: Mapping[str, dict],
    live_profile: dict | None,
    clean_summary: dict,
    label_summary: dict,
    rule_rows: list,
    held_out: Callable[[], dict],
    limits: dict,
    top_movers: int,
    progress: Callable[[int, int, str], None],
) -> tuple[dict, dict]:
    """(drift report, tonight's profile): tonight's rows under the challenger (trained on them, so
    its unknown words are counted leave-one-out with `term_counts`) and under each live model,
    compared with the live release's profile when it has one. `held_out()` gives the gate's
    held-out comparison; it is asked only when there is a profile to compare with."""
    passes = 1 + len(live_models)

    def stage(done_pass: int, label: str):
        return lambda done, total: progress(
            done_pass * total + done, passes * total, f"{label}: {done:,} of {total:,} rows"
        )

    challenger_stats, _ = model_statistics(
        challenger, texts, term_counts=list(term_counts), min_count=min_count, progress=stage(0, "challenger")
    )
    live_stats, live_scores = {}, {}
    for number, (name, model) in enumerate(sorted(live_models.items()), start=1):
        stats, scores = model_statistics(model, texts, progress=stage(number, f"live {name}"))
        live_stats[name], live_scores[name] = stats[name], scores[name]
    common = night_profile(
        extracted=clean_summary["extracted"],
        quarantine_reasons=clean_summary["reasons"],
        label_messages=label_summary["messages"],
        label_counts=label_summary["classes"],
        rules=rule_rows,
        models={},
    )
    report = {"night": night, "live_release": live_name, "live_night": live_night, "profiled_rows": len(texts)}
    if live_profile is not None:
        comparison = compare_profiles(
            live_profile,
            {**common, "models": live_stats},
            live_scores,
            held_out(),
            limits=limits,
            top_movers=top_movers,
        )
        report.update(comparison, note=None)
    else:
        note = (
            "no release is live yet"
            if live_name is None
            else f"the live release {live_name} has no drift profile (published before drift reports)"
        )
        report.update(status=NOT_COMPARED, measures=[], details={}, note=f"Nothing to compare with: {note}.")
    return report, {**common, "models": {"challenger": challenger_stats, "live": live_stats}}


def status_line(report: dict) -> str:
    """The report's status and every measure that is not ok, on one line (for the log)."""
    return report["status"] + "".join(
        f"; {m['measure']} {m['subject']} {m['status']}" for m in report["measures"] if m["status"] != "ok"
    )

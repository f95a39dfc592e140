"""The review sample: per class, the messages a person should judge, as a CSV to fill in and an HTML page.

Five kinds of message per class, `size // 5` each (the first kinds get the remainder): the highest
scores, the scores nearest the decision threshold, random positives and random negatives of the
model's decision, and the strongest disagreements between the rules and the model (the model says
yes where no rule of the class fired, by the highest scores, and no where one fired, by the lowest).
A message picked by two kinds is one row naming both. The picks depend only on the scores, the
rules and `seed` (random picks use a generator seeded by the seed and the class name), so the same
run gives the same sample.

The CSV's `verdict` column is left empty for the reviewer (yes / no); the filled-in file is read
back as feedback (sortbox.feedback) as it is.
"""

from __future__ import annotations

import html
import io
import zlib
from typing import TYPE_CHECKING, Callable, Iterator, Mapping, Sequence

import numpy as np

from sortbox.checkpoint import iter_parquet_chunks
from sortbox.html_page import page_head
from sortbox.label import hits_to_csr
from sortbox.portable_scorer import CsvWriter, csv_safe
from sortbox.rule_engines import best_matcher
from sortbox.textnorm import TextCleaner, rule_view

if TYPE_CHECKING:
    import pyarrow as pa

KINDS = ("highest", "threshold", "random_positive", "random_negative", "disagreement")
COLUMNS = ("id", "text", "class", "score", "decision", "rules", "sample", "verdict", "reviewer", "reviewed_at")


def pick_review_rows(
    scores: np.ndarray, threshold: float, rule_says: np.ndarray, *, size: int, seed: int, class_name: str
) -> list[tuple[int, list[str]]]:
    """(row index, kinds) of one class's review sample, in the order of KINDS then of the picks.

    `scores`: the class's score per scored message; `rule_says`: whether a rule of the class fired."""
    rng = np.random.default_rng([seed, zlib.crc32(class_name.encode())])
    decision = scores >= threshold
    quota = {kind: size // len(KINDS) + (k < size % len(KINDS)) for k, kind in enumerate(KINDS)}
    everything = np.arange(len(scores))
    picks = {
        "highest": np.argsort(-scores, kind="stable")[: quota["highest"]],
        "threshold": np.argsort(np.abs(scores - threshold), kind="stable")[: quota["threshold"]],
        "random_positive": _random(rng, everything[decision], quota["random_positive"]),
        "random_negative": _random(rng, everything[~decision], quota["random_negative"]),
        "disagreement": _disagreements(scores, decision, rule_says, quota["disagreement"]),
    }
    rows: dict[int, list[str]] = {}
    for kind in KINDS:
        for index in picks[kind].tolist():
            rows.setdefault(index, []).append(kind)
    return list(rows.items())


def _random(rng: np.random.Generator, candidates: np.ndarray, count: int) -> np.ndarray:
    return (
        np.sort(rng.choice(candidates, size=min(count, len(candidates)), replace=False))
        if len(candidates)
        else candidates
    )


def _disagreements(scores: np.ndarray, decision: np.ndarray, rule_says: np.ndarray, count: int) -> np.ndarray:
    """The model's most confident disagreements with the rules, half each way (alternating)."""
    everything = np.arange(len(scores))
    model_only = everything[decision & ~rule_says]
    rules_only = everything[~decision & rule_says]
    model_only = model_only[np.argsort(-scores[model_only], kind="stable")]
    rules_only = rules_only[np.argsort(scores[rules_only], kind="stable")]
    merged = [i for pair in zip(model_only, rules_only) for i in pair]
    shorter = min(len(model_only), len(rules_only))
    merged += list(model_only[shorter:]) + list(rules_only[shorter:])
    return np.array(merged[:count], dtype=np.int64)


def review_rows(
    class_name: str,
    picks: list[tuple[int, list[str]]],
    *,
    ids: Mapping[int, str],
    texts: Mapping[int, str],
    scores: np.ndarray,
    decisions: np.ndarray,
    rules_fired: Mapping[int, Sequence[str]],
) -> list[dict]:
    """The review rows of one class (plain values, not escaped); `ids`, `texts` and `rules_fired`
    by row index, for the picked rows at least."""
    return [
        {
            "id": ids[i],
            "text": texts[i],
            "class": class_name,
            "score": f"{float(scores[i]):.6f}",
            "decision": "yes" if decisions[i] else "no",
            "rules": " ".join(rules_fired[i]),
            "sample": "+".join(kinds),
            "verdict": "",
            "reviewer": "",
            "reviewed_at": "",
        }
        for i, kinds in picks
    ]


def render_review_csv(rows: list[dict]) -> str:
    """The CSV to fill in: every data cell spreadsheet-escaped (csv_safe), rows written by CsvWriter."""
    buffer = io.StringIO(newline="")
    writer = CsvWriter(buffer)
    writer.writerow(COLUMNS)
    writer.writerows([[csv_safe(str(row[column])) for column in COLUMNS] for row in rows])
    return buffer.getvalue()


def render_review_html(class_name: str, rows: list[dict], csv_name: str) -> str:
    """A read-only view of the same rows (text escaped), pointing at the CSV to fill in."""
    esc = html.escape
    body = "".join(
        f"<tr class='{'yes' if row['decision'] == 'yes' else 'no'}'><td>{esc(row['id'])}</td>"
        f"<td>{esc(row['text'])}</td><td class='num'>{row['score']}</td><td>{row['decision']}</td>"
        f"<td><code>{esc(row['rules'])}</code></td><td>{esc(row['sample'])}</td></tr>"
        for row in rows
    )
    css = "tr.yes td:nth-child(4) { color: #2e7d32; font-weight: bold; } td:nth-child(2) { max-width: 50em; }"
    return (
        page_head(f"sortbox review sample: {class_name}", css)
        + f"<h1>Review sample: {esc(class_name)}</h1><p>{len(rows)} messages. "
        f"Judge each: is it a <b>{esc(class_name)}</b> message? Write yes or no in the <code>verdict</code> column "
        f"of <a href='{esc(csv_name, quote=True)}'>{esc(csv_name)}</a> "
        "and give the filled-in file to <code>[feedback] path</code>.</p>"
        "<table><tr><th>id</th><th>text</th><th>score</th><th>decision</th><th>rules that fired</th>"
        "<th>why sampled</th></tr>"
        f"{body}</table></body></html>\n"
    )


def rule_hits_in_order(
    ids: "Sequence[str] | pa.Array", label_ids: "pa.Array", label_hits: "pa.Array"
) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, rule indices) of each of `ids`, taken from the labelling's per-message rule hits.

    `label_ids`/`label_hits`: the id and rule_hits columns of the labels (every id must be there:
    the run's own scored rows are a subset of its labelled rows). Each message's indices sorted.
    When the scored ids are the labelled ids in the same order (the run's own model on its own
    rows), the hits are taken as they are: no table of the ids is built."""
    import pyarrow.compute as pc

    ids = _string_array(ids)
    if ids.equals(label_ids):
        taken = label_hits
    else:
        positions = pc.index_in(ids, value_set=label_ids)
        if positions.null_count:
            missing = ids[positions.is_null().to_numpy(zero_copy_only=False).argmax()].as_py()
            raise ValueError(f"scored id {missing!r} has no rule hits in the labels: not this run's rows")
        taken = label_hits.take(positions)
    lengths = pc.list_value_length(taken).to_numpy(zero_copy_only=False).astype(np.int64)
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    indices = pc.list_flatten(taken).to_numpy(zero_copy_only=False).astype(np.int64)
    rows = np.repeat(np.arange(len(ids)), lengths)
    return indptr, indices[np.lexsort((indices, rows))]  # sorted per message, as hits_to_csr's


def _string_array(ids: "Sequence[str] | pa.Array") -> "pa.Array":
    """Ids as an Arrow string array (as they are when they are one already)."""
    import pyarrow as pa

    return ids if isinstance(ids, pa.Array) else pa.array(ids, pa.string())


def rule_says(indptr: np.ndarray, indices: np.ndarray, rule_classes: Sequence[str], class_name: str) -> np.ndarray:
    """Per message, whether a rule of `class_name` fired (from the CSR rule hits)."""
    of_class = np.flatnonzero(np.asarray(rule_classes, dtype=object) == class_name)
    rows = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    says = np.zeros(len(indptr) - 1, dtype=bool)
    says[rows[np.isin(indices, of_class)]] = True
    return says


def read_scores(path, classes: int) -> "tuple[pa.Array, np.ndarray]":
    """Ids (an Arrow string array, spreadsheet escaping undone) and the score matrix (messages x
    classes) of a scores.csv, read by Arrow: at 1M rows the csv module took seconds, and at 10M a
    Python string per id took more memory than the rest of the review."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from pyarrow import csv as arrow_csv

    names = ["f0"] + [f"f{1 + 2 * k}" for k in range(classes)]
    table = arrow_csv.read_csv(
        path,
        read_options=arrow_csv.ReadOptions(autogenerate_column_names=True, skip_rows=1),
        parse_options=arrow_csv.ParseOptions(newlines_in_values=True),
        convert_options=arrow_csv.ConvertOptions(
            include_columns=names,
            column_types={"f0": pa.string(), **{name: pa.float64() for name in names[1:]}},
            strings_can_be_null=False,
        ),
    )
    cells = table.column("f0").combine_chunks()
    # csv_unescape, on the whole column: one leading ' removed, if there is one.
    ids = pc.if_else(pc.starts_with(cells, "'"), pc.utf8_slice_codeunits(cells, 1), cells)
    scores = np.column_stack([table.column(name).to_numpy() for name in names[1:]]) if len(ids) else None
    return ids, (scores if scores is not None else np.zeros((0, classes))).reshape(len(ids), classes)


def message_texts(path, ids: list[str], *, chunk_rows: int = 100_000) -> list[str]:
    """The raw text of each id (what the reviewer reads), from the extracted messages, read a
    chunk at a time: only the wanted texts are kept."""
    import pyarrow as pa
    import pyarrow.compute as pc

    wanted = pa.array(ids, pa.string())
    text_of: dict = {}
    for chunk in iter_parquet_chunks(path, batch_size=chunk_rows, columns=["id", "text"]):
        found = chunk.filter(pc.is_in(chunk.column("id"), value_set=wanted))
        text_of.update(zip(found.column("id").to_pylist(), found.column("text").to_pylist()))
    return [text_of.get(i) or "" for i in ids]


def match_rules(texts: Sequence[str], rules: list, cleaning_spec: dict) -> tuple[np.ndarray, np.ndarray]:
    """(offsets, rule indices) of the rules that fire on each raw text cleaned by `cleaning_spec`
    (for messages no labelling of this run has matched: a published model's scoring)."""
    cleaner = TextCleaner(cleaning_spec)
    return hits_to_csr(best_matcher(rules).match_many([rule_view(cleaner.map(t)) for t in texts]))


def review_samples(
    class_names: Sequence[str],
    thresholds: Sequence[float],
    *,
    ids: "Sequence[str] | pa.Array",
    scores: np.ndarray,
    rule_hits: tuple[np.ndarray, np.ndarray],
    rules: list,
    texts_of: Callable[[list[str]], list[str]],
    size: int,
    seed: int,
) -> Iterator[tuple[str, list[dict], dict]]:
    """Per class: (class, the review rows to show, its summary entry). `scores` is messages x
    classes, in `class_names` order, and `ids` the messages' ids (only the picked ones are made
    Python strings); `rule_hits` the (offsets, rule indices) of the rules that fired
    on each message (rule_hits_in_order or match_rules), so a reviewer sees which rules fired and
    where the model and the rules disagree; `texts_of` gives the texts of a list of ids, asked once
    for the picked messages only (at 1M messages reading every text cost more than the rest)."""
    indptr, indices = rule_hits
    rule_classes = [rule.label for rule in rules]
    picked = []
    for k, name in enumerate(class_names):
        says = rule_says(indptr, indices, rule_classes, name)
        decisions = scores[:, k] >= thresholds[k]
        picks = pick_review_rows(scores[:, k], float(thresholds[k]), says, size=size, seed=seed, class_name=name)
        picked.append((k, name, picks, decisions, int((decisions != says).sum())))
    wanted = sorted({i for _, _, picks, _, _ in picked for i, _ in picks})
    wanted_ids = _string_array(ids).take(wanted).to_pylist()
    id_of = dict(zip(wanted, wanted_ids))
    texts = dict(zip(wanted, texts_of(wanted_ids)))
    fired = {i: [rules[j].rule_id for j in indices[indptr[i] : indptr[i + 1]]] for i in wanted}
    for k, name, picks, decisions, disagreements in picked:
        rows = review_rows(
            name, picks, ids=id_of, texts=texts, scores=scores[:, k], decisions=decisions, rules_fired=fired
        )
        yield name, rows, {"rows": len(rows), "threshold": float(thresholds[k]), "disagreements": disagreements}

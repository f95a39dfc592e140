#!/usr/bin/env python3
"""Model quality: sortbox's model selection against the plain script, per data set and class.

    python scripts/quality.py [--json var/quality/quality.json] [--datasets sms,sms-1000,...]
        [--param-grid JSON] [--folds N] [--cv-repeats N] [--outer-folds 5] [--outer-repeats 5]

The data sets (all shipped or installed, nothing downloaded):
  sms        the SMS collection (data/sms_spam_collection.tsv), its ham/spam column as the truth;
  sms-1000,  deterministic samples of it (the ids whose hash sorts lowest, as sortbox samples),
  sms-3000   each a data set of its own (its own vocabulary, TF-IDF and LSI);
  sms-rules  the SMS collection labelled by the shipped rules (dictionaries/labels);
  chatbot    a small multi-label set built here, deterministically, from the English dialogues
             bundled in the chatterbot-corpus package (pip install -e .[quality]): each row joins
             one to three question/answer dialogues of different topics and carries all their
             topics; every distinct dialogue is used once (topics with fewer than 15 are left out).

Both sides see the same rows (those with at least one term sortbox knows) and the same outer
folds (stratified, --outer-folds, drawn --outer-repeats times with seeds 0, 1, ...). Per outer fold:
  sortbox    the pipeline's own steps (sortbox's cleaner, tokenizer, dictionary, TF-IDF and LSI over
             the whole data set, as the DAG does), then `grid_search` on the outer training part with
             the grid GridSearch would search on that many messages ([training] small_data_param_grid
             or param_grid of config/luigi.cfg, or --param-grid) and [training] folds (or --folds),
             drawn [training] small_data_cv_repeats times on small data (or --cv-repeats), and the
             best candidate refitted on that part, as FitClassifier does;
  baseline   the plain script (scripts/naive_baseline.py: its cleaning, nltk wordpunct + Snowball,
             gensim Dictionary / TfidfModel / LsiModel with 500 topics), then a default
             LogisticRegression on the raw LSI features (max_iter raised to 1000 so that it converges).
Each side is scored on the outer test part; the figure per class is the mean ROC AUC over the
outer folds (and its spread). Sortbox's choice of parameters happens inside each outer training
part, so its figure is not flattered by picking the best of its grid on the folds it is judged on.
"""

from __future__ import annotations

import argparse
import configparser
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import naive_baseline  # noqa: E402  (scripts/ is on sys.path when this file runs)
import numpy as np  # noqa: E402

from sortbox.embed import build_dictionary, fit_lsi, fit_tfidf, idf_vector, lsi_basis, project, tfidf_matrix  # noqa: E402
from sortbox.label import class_lists, hits_to_csr  # noqa: E402
from sortbox.model_selection import (  # noqa: E402
    class_target,
    fit_final,
    grid_search,
    selection_grid,
    selection_repeats,
    untrainable_reason,
)
from sortbox.rule_engines import best_matcher  # noqa: E402
from sortbox.rules import load_rules  # noqa: E402
from sortbox.sample_data import read_sms_collection  # noqa: E402
from sortbox.sampling import training_rows  # noqa: E402
from sortbox.textnorm import TextCleaner, default_cleaning_spec, rule_view  # noqa: E402
from sortbox.tokenizer import TermTally, Tokenizer  # noqa: E402
from sortbox.wordlists import load_stopwords  # noqa: E402

SMS = ROOT / "data" / "sms_spam_collection.tsv"
DATASETS = ("sms", "sms-1000", "sms-3000", "sms-rules", "chatbot")
SMALL = ("sms-1000", "sms-3000", "chatbot")
CHATBOT_MIN_DIALOGUES = 15


def read_config() -> dict:
    """The [tokenize], [dictionary], [lsi] and [training] values of config/luigi.cfg."""
    parser = configparser.ConfigParser()
    parser.read(ROOT / "config" / "luigi.cfg")
    return {
        "min_word_frequency": parser.getint("tokenize", "min_word_frequency"),
        "no_above": parser.getfloat("dictionary", "no_above"),
        "keep_n": parser.getint("dictionary", "keep_n"),
        "num_topics": parser.getint("lsi", "num_topics"),
        "power_iters": parser.getint("lsi", "power_iters"),
        "lsi_seed": parser.getint("lsi", "seed"),
        "param_grid": json.loads(parser["training"]["param_grid"]),
        "small_data_param_grid": json.loads(parser["training"]["small_data_param_grid"]),
        "small_data_rows": parser.getint("training", "small_data_rows"),
        "small_data_cv_repeats": parser.getint("training", "small_data_cv_repeats"),
        "folds": parser.getint("training", "folds"),
        "scoring": parser["training"]["scoring"],
        "seed": parser.getint("training", "seed"),
    }


# ---------------------------------------------------------------- data sets


def read_sms() -> tuple[list[str], list[str], list[list[str]]]:
    """(ids, raw texts, truth label lists) of the SMS collection; the id is the row number."""
    pairs = list(read_sms_collection(SMS))
    return [str(i) for i in range(len(pairs))], [text for _, text in pairs], [[label] for label, _ in pairs]


def sample_rows(ids: list[str], rows: int) -> np.ndarray:
    """The `rows` ids whose hash sorts lowest: sortbox's own deterministic sample."""
    return training_rows(ids, np.ones(len(ids), dtype=bool), holdout_fraction=0.0, seed=0, max_rows=rows)


def rule_labels(texts: list[str]) -> list[list[str]]:
    """The shipped rules' classes for each raw text, on the text the rules see in the pipeline."""
    cleaner = TextCleaner(default_cleaning_spec())
    rules = load_rules(ROOT / "dictionaries" / "labels")
    matcher = best_matcher(rules)
    views = [rule_view(cleaner.map(text)) for text in texts]
    if hasattr(matcher, "match_csr"):
        indptr, indices = matcher.match_csr(views)
    else:
        indptr, indices = hits_to_csr(matcher.match_many(views))
    return class_lists(indptr, indices, rules).to_pylist()


def chatbot_dialogues() -> dict[str, list[str]]:
    """Topic -> distinct question/answer texts of chatterbot-corpus's English dialogues (topics with
    at least CHATBOT_MIN_DIALOGUES dialogues)."""
    try:
        from importlib.resources import files

        import yaml

        folder = files("chatterbot_corpus") / "data" / "english"
    except ModuleNotFoundError as exc:
        raise SystemExit(
            f"quality: the chatbot data set needs chatterbot-corpus and PyYAML ({exc}); pip install -e .[quality]"
        ) from None
    topics: dict[str, list[str]] = {}
    for path in sorted(folder.iterdir(), key=lambda p: p.name):
        if not path.name.endswith(".yml"):
            continue
        content = yaml.safe_load(path.read_text(encoding="utf-8"))
        topic = path.name.removesuffix(".yml")
        dialogues = sorted({" ".join(str(line) for line in dialogue) for dialogue in content["conversations"]})
        if len(dialogues) >= CHATBOT_MIN_DIALOGUES:
            topics[topic] = dialogues
    return topics


def chatbot_rows(topics: dict[str, list[str]], seed: int = 0) -> tuple[list[str], list[list[str]]]:
    """Every dialogue exactly once (so no text is both trained on and judged), in rows of one to
    three dialogues of different topics (40/40/20%), in a seeded random order; each row's labels
    are all its topics."""
    rng = np.random.default_rng(seed)
    pending = [(topic, text) for topic in sorted(topics) for text in topics[topic]]
    pending = [pending[i] for i in rng.permutation(len(pending))]
    texts, labels = [], []
    while pending:
        wanted = int(rng.choice([1, 2, 3], p=[0.4, 0.4, 0.2]))
        row: list[tuple[str, str]] = []
        index = 0
        while len(row) < wanted and index < len(pending):
            if pending[index][0] in {topic for topic, _ in row}:
                index += 1
            else:
                row.append(pending.pop(index))
        texts.append(" ".join(text for _, text in row))
        labels.append(sorted(topic for topic, _ in row))
    return texts, labels


def load_dataset(name: str) -> tuple[list[str], list[list[str]], str]:
    """(raw texts, label lists, what the labels are) of a data set."""
    if name == "chatbot":
        texts, labels = chatbot_rows(chatbot_dialogues())
        return texts, labels, "topics of the joined dialogues (chatterbot-corpus)"
    ids, texts, truth = read_sms()
    if name == "sms-rules":
        return texts, rule_labels(texts), "the shipped rules' labels"
    if name.startswith("sms-"):
        keep = sample_rows(ids, int(name.removeprefix("sms-")))
        return [texts[i] for i in keep], [truth[i] for i in keep], "the ham/spam column"
    return texts, truth, "the ham/spam column"


# ---------------------------------------------------------------- features


def sortbox_features(texts: list[str], config: dict) -> tuple[np.ndarray, np.ndarray]:
    """(LSI features, has-a-known-term mask) by sortbox's own stages, as the DAG computes them."""
    cleaner = TextCleaner(default_cleaning_spec())
    cleaned = [cleaner.clean(text) for text in texts]
    tokenizer = Tokenizer(load_stopwords(ROOT / "dictionaries" / "stopwords", "english"))
    tally = TermTally()
    documents = tokenizer.tokenize(cleaned, tally)
    dictionary = build_dictionary(
        [documents],
        tally.vocabulary(config["min_word_frequency"]),
        no_above=config["no_above"],
        keep_n=config["keep_n"],
    )
    idf = idf_vector(fit_tfidf(dictionary), len(dictionary))
    matrix = tfidf_matrix(documents, dictionary.token2id, idf)
    model = fit_lsi(
        [matrix],
        dictionary,
        num_topics=config["num_topics"],
        power_iters=config["power_iters"],
        random_seed=config["lsi_seed"],
    )
    return project(matrix, lsi_basis(model)), matrix.getnnz(axis=1) > 0


def baseline_features(texts: list[str], config: dict) -> np.ndarray:
    """LSI features by the plain script's own steps (scripts/naive_baseline.py)."""
    from gensim.models import TfidfModel

    stopwords = {
        w.strip().lower()
        for w in (ROOT / "dictionaries" / "stopwords" / "english.txt").read_text(encoding="utf-8").splitlines()
        if w.strip() and not w.startswith("#")
    }
    documents = naive_baseline.tokenize([naive_baseline.clean(text) for text in texts], stopwords)
    dictionary, bow = naive_baseline.vocabulary(documents)
    return naive_baseline.lsi_features(
        bow, dictionary, TfidfModel(bow), num_topics=config["num_topics"], seed=config["seed"]
    )


# ---------------------------------------------------------------- evaluation


def compare_class(
    ours: np.ndarray, theirs: np.ndarray, y: np.ndarray, *, config: dict, outer_folds: int, outer_repeats: int = 1
) -> dict:
    """Both sides on the same outer folds, drawn `outer_repeats` times (shuffle seeds 0, 1, ...):
    the mean ROC AUC over every outer fold of every drawing and its spread, the difference per
    drawing, and the parameters sortbox chose in each outer training part."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    scores: dict[str, list[list[float]]] = {"sortbox": [], "baseline": []}
    chosen, edges = [], 0
    for drawing in range(outer_repeats):
        outer = StratifiedKFold(n_splits=outer_folds, shuffle=True, random_state=drawing)
        for side in scores.values():
            side.append([])
        for train, test in outer.split(np.zeros(len(y)), y):
            grid = selection_grid(
                config["param_grid"], config["small_data_param_grid"], len(train), small_data_rows=config["small_data_rows"]
            )
            search, _ = grid_search(
                ours[train],
                y[train],
                param_grid=grid,
                folds=config["folds"],
                scoring=config["scoring"],
                n_jobs=1,
                random_state=config["seed"],
                repeats=selection_repeats(
                    config["small_data_cv_repeats"], len(train), small_data_rows=config["small_data_rows"]
                ),
            )
            chosen.append(search["best_params"])
            edges += bool(search.get("edge_warning"))
            model = fit_final(ours[train], y[train], params=search["best_params"], random_state=config["seed"])
            scores["sortbox"][-1].append(roc_auc_score(y[test], model.predict_proba(ours[test])[:, 1]))
            plain = LogisticRegression(max_iter=1000).fit(theirs[train], y[train])
            scores["baseline"][-1].append(roc_auc_score(y[test], plain.predict_proba(theirs[test])[:, 1]))
    result = {side: {"roc_auc": float(np.mean(s)), "std": float(np.std(s))} for side, s in scores.items()}
    result["delta"] = result["sortbox"]["roc_auc"] - result["baseline"]["roc_auc"]
    result["delta_per_drawing"] = [
        float(np.mean(ours_) - np.mean(theirs_)) for ours_, theirs_ in zip(scores["sortbox"], scores["baseline"])
    ]
    result["best_params"] = chosen
    result["best_on_edge"] = edges
    return result


def run_dataset(name: str, config: dict, outer_folds: int, outer_repeats: int = 1) -> dict:
    start = time.perf_counter()
    texts, labels, measured_against = load_dataset(name)
    ours, known = sortbox_features(texts, config)
    theirs = baseline_features(texts, config)
    rows = np.flatnonzero(known)
    ours, theirs, labels = ours[rows], theirs[rows], [labels[i] for i in rows]
    classes, targets = {}, {}
    for class_name in sorted({label for row in labels for label in row}):
        y = targets[class_name] = class_target(labels, class_name)
        reason = untrainable_reason(y, 2 * max(outer_folds, config["folds"]))  # every fold of both levels sees some
        if reason:
            classes[class_name] = {"skipped": reason, "positives": int(y.sum())}
            continue
        # A class that is the exact complement of one already measured (ham of ham/spam) has the
        # same folds (stratified on the same split of the rows) and negated scores on both sides,
        # so the same ROC AUC: its figures are that class's, measured once.
        mirror = next((c for c, other in targets.items() if c in classes and np.array_equal(other, 1 - y)), None)
        if mirror and "skipped" not in classes[mirror]:
            classes[class_name] = {**classes[mirror], "positives": int(y.sum()), "mirror_of": mirror}
            continue
        classes[class_name] = {
            "positives": int(y.sum()),
            **compare_class(ours, theirs, y, config=config, outer_folds=outer_folds, outer_repeats=outer_repeats),
        }
    return {
        "rows": len(rows),
        "left_out_no_known_term": int(len(texts) - len(rows)),
        "labels": measured_against,
        "classes": classes,
        "seconds": round(time.perf_counter() - start, 1),
    }


def table(results: dict) -> str:
    """The side-by-side table (markdown), one row per data set and class, and a mean per data set."""
    lines = [
        "| data set | rows | class | positives | sortbox ROC AUC | baseline ROC AUC | delta | delta per drawing of the outer folds | sortbox's C (per outer fold) |",
        "|---|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for name, result in results.items():
        deltas = []
        for class_name, entry in result["classes"].items():
            if "skipped" in entry:
                lines.append(
                    f"| {name} | {result['rows']:,} | {class_name} | {entry['positives']:,} | skipped: {entry['skipped']} | | | | |"
                )
                continue
            deltas.append(entry["delta"])
            params = ", ".join(sorted({_short(p) for p in entry["best_params"]}))
            drawings = " ".join(f"{d:+.4f}" for d in entry.get("delta_per_drawing", []))
            if "mirror_of" in entry:
                drawings += f" (1 - {entry['mirror_of']}: its figures)"
            lines.append(
                f"| {name} | {result['rows']:,} | {class_name} | {entry['positives']:,} | {entry['sortbox']['roc_auc']:.4f} ± {entry['sortbox']['std']:.4f} "
                f"| {entry['baseline']['roc_auc']:.4f} ± {entry['baseline']['std']:.4f} | {entry['delta']:+.4f} | {drawings} | {params} |"
            )
        if deltas:
            ours = np.mean([e["sortbox"]["roc_auc"] for e in result["classes"].values() if "delta" in e])
            theirs = np.mean([e["baseline"]["roc_auc"] for e in result["classes"].values() if "delta" in e])
            lines.append(
                f"| **{name}** | | **mean of {len(deltas)} classes** | | **{ours:.4f}** | **{theirs:.4f}** | **{ours - theirs:+.4f}** | | |"
            )
    return "\n".join(lines)


def _short(params: dict) -> str:
    return " ".join(f"{k}={v}" for k, v in sorted(params.items()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS), help=f"comma-separated, of {', '.join(DATASETS)}")
    parser.add_argument(
        "--param-grid",
        type=json.loads,
        help="sortbox's grid on every data set (default: [training] small_data_param_grid / param_grid of config/luigi.cfg, by size)",
    )
    parser.add_argument("--folds", type=int, help="sortbox's inner folds (default: [training] folds)")
    parser.add_argument(
        "--cv-repeats",
        type=int,
        help="how many times sortbox draws its inner folds on small data (default: [training] small_data_cv_repeats)",
    )
    parser.add_argument("--outer-folds", type=int, default=5)
    parser.add_argument(
        "--outer-repeats",
        type=int,
        default=5,
        help="how many times the outer folds are drawn (shuffle seeds 0, 1, ...); both sides share every drawing",
    )
    parser.add_argument("--json", type=Path, default=ROOT / "var" / "quality" / "quality.json")
    args = parser.parse_args(argv)
    names = [n for n in args.datasets.split(",") if n]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        raise SystemExit(f"quality: unknown data set(s) {', '.join(unknown)}; known: {', '.join(DATASETS)}")
    config = read_config()
    if args.param_grid is not None:
        config["param_grid"] = config["small_data_param_grid"] = args.param_grid
    if args.folds is not None:
        config["folds"] = args.folds
    if args.cv_repeats is not None:
        config["small_data_cv_repeats"] = args.cv_repeats
    results = {}
    for name in names:
        print(f"{name} ...", file=sys.stderr, flush=True)
        results[name] = run_dataset(name, config, args.outer_folds, args.outer_repeats)
        print(f"{name}: {results[name]['rows']:,} rows, {results[name]['seconds']} s", file=sys.stderr, flush=True)
    print(
        f"sortbox: up to {config['small_data_rows']:,} training messages {json.dumps(config['small_data_param_grid'])}, else {json.dumps(config['param_grid'])}; {config['folds']} folds, drawn {config['small_data_cv_repeats']} times up to {config['small_data_rows']:,} messages; outer folds {args.outer_folds}, drawn {args.outer_repeats} times"
    )
    print(table(results))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "sortbox": {k: config[k] for k in ("param_grid", "small_data_param_grid", "small_data_rows", "small_data_cv_repeats", "folds")},
                "outer_folds": args.outer_folds,
                "outer_repeats": args.outer_repeats,
                "datasets": results,
            },
            indent=2,
        )
        + "\n"
    )
    print(f"written: {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

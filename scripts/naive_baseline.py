#!/usr/bin/env python3
"""The naive single-script approach: the honest baseline that scripts/benchmark.py compares sortbox with.

    python scripts/naive_baseline.py --db-url URL --table TABLE --out DIR --timings-json PATH
        [--id-column id --text-column body] [--rules-dir dictionaries/labels]
        [--stopwords dictionaries/stopwords/english.txt] [--num-topics 500]
        [--param-grid '{"C": [0.1, 1.0, 10.0]}'] [--folds 3] [--seed 0]

It does sortbox's job the way a first script would, with the obvious tools and nothing clever:
pandas.read_sql of the whole table; Series.apply of a cleaning function; a Python loop over the
messages for each regex rule; nltk per message (wordpunct_tokenize) and per word (Snowball stem);
gensim's Dictionary, TfidfModel and LsiModel with their defaults; per class, scikit-learn's
GridSearchCV over the same grid and folds as sortbox, then cross_val_predict with the best
parameters for the out-of-fold scores that choose the threshold; a model JSON and a scores CSV.
It does no sabotage either (no repeated work, no sleeps) and uses every row, as such a script
would. It imports nothing from sortbox. It exists only to be measured.
"""
from __future__ import annotations

import argparse
import csv
import json
import re
import resource
import sys
import time
import unicodedata
from pathlib import Path

import numpy as np
import pandas as pd
import sqlalchemy as sa
from gensim import matutils
from gensim.corpora import Dictionary
from gensim.models import LsiModel, TfidfModel
from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize import wordpunct_tokenize
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import precision_recall_curve
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_predict
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
DIGIT = re.compile(r"\d")


def clean(text) -> str:
    """NFKC, lower case, digits to 0, tabs/newlines to spaces, control characters removed."""
    if not isinstance(text, str):  # NULL (pandas gives None or NaN)
        return ""
    text = unicodedata.normalize("NFKC", text).lower()
    text = DIGIT.sub("0", text.replace("\t", " ").replace("\n", " ").replace("\r", " "))
    return CONTROL.sub("", text).strip()


def load_rules(rules_dir: Path) -> list[tuple[str, re.Pattern]]:
    """(class, compiled regex) for every rule line of every <class>.txt."""
    rules = []
    for path in sorted(rules_dir.glob("*.txt")):
        for line in path.read_text(encoding="utf-8").splitlines():
            line = line.strip()
            if line and not line.startswith("#"):
                rules.append((path.stem, re.compile(line, re.IGNORECASE | re.ASCII)))
    if not rules:
        raise SystemExit(f"naive_baseline: no rules in {rules_dir}")
    return rules


def tokenize(texts, stopwords: set[str]) -> list[list[str]]:
    """nltk per message (wordpunct) and per word (Snowball stem), stopwords and non-words dropped."""
    stemmer = SnowballStemmer("english")
    return [[stemmer.stem(w) for w in wordpunct_tokenize(text) if w.isalpha() and w not in stopwords] for text in texts]


def vocabulary(documents: list[list[str]]) -> tuple[Dictionary, list]:
    """gensim's Dictionary (terms in at least 2 and at most half of the messages) and the bags of words."""
    dictionary = Dictionary(documents)
    dictionary.filter_extremes(no_below=2, no_above=0.5, keep_n=100000)
    return dictionary, [dictionary.doc2bow(doc) for doc in documents]


def lsi_features(bow: list, dictionary: Dictionary, tfidf: TfidfModel, *, num_topics: int, seed: int) -> np.ndarray:
    """gensim's LsiModel with its defaults on the TF-IDF corpus; messages x topics, dense."""
    lsi = LsiModel(tfidf[bow], id2word=dictionary, num_topics=num_topics, random_seed=seed)
    return matutils.corpus2dense(lsi[tfidf[bow]], num_topics).T


class Steps:
    """Wall seconds and peak RSS after each named step."""

    def __init__(self):
        self.steps, self.start, self.last = {}, time.perf_counter(), time.perf_counter()

    def done(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = {
            "seconds": round(now - self.last, 2),
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        }
        print(f"{name}: {now - self.last:.1f} s", flush=True)
        self.last = now


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db-url", required=True)
    parser.add_argument("--table", required=True)
    parser.add_argument("--id-column", default="id")
    parser.add_argument("--text-column", default="body")
    parser.add_argument("--rules-dir", type=Path, default=Path("dictionaries/labels"))
    parser.add_argument("--stopwords", type=Path, default=Path("dictionaries/stopwords/english.txt"))
    parser.add_argument("--num-topics", type=int, default=500)
    parser.add_argument("--param-grid", type=json.loads, default={"C": [0.1, 1.0, 10.0]})
    parser.add_argument("--folds", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--timings-json", type=Path, required=True)
    args = parser.parse_args(argv)
    if not args.rules_dir.is_dir():
        raise SystemExit(f"naive_baseline: rules directory {args.rules_dir} does not exist")
    rules = load_rules(args.rules_dir)
    stopwords = {
        w.strip().lower()
        for w in args.stopwords.read_text(encoding="utf-8").splitlines()
        if w.strip() and not w.startswith("#")
    }
    steps = Steps()

    engine = sa.create_engine(args.db_url)
    if not sa.inspect(engine).has_table(args.table):
        raise SystemExit(f"naive_baseline: table {args.table!r} does not exist")
    df = pd.read_sql(f'SELECT "{args.id_column}" AS id, "{args.text_column}" AS body FROM "{args.table}"', engine)
    df["id"] = df["id"].astype(str)
    steps.done("read")

    df["text"] = df["body"].apply(clean)
    df = df[df["text"] != ""].reset_index(drop=True)
    steps.done("clean")

    rule_texts = [unicodedata.normalize("NFKC", b) for b in df["body"]]
    labels = [set() for _ in range(len(df))]
    for name, pattern in rules:
        for i, text in enumerate(rule_texts):
            if pattern.search(text):
                labels[i].add(name)
    steps.done("label")

    documents = tokenize(df["text"], stopwords)
    steps.done("tokenize")

    dictionary, bow = vocabulary(documents)
    steps.done("dictionary")

    tfidf = TfidfModel(bow)
    steps.done("tfidf")

    X = lsi_features(bow, dictionary, tfidf, num_topics=args.num_topics, seed=args.seed)
    steps.done("lsi")

    folds = StratifiedKFold(n_splits=args.folds, shuffle=True, random_state=args.seed)
    estimator = Pipeline(
        [("scale", StandardScaler()), ("model", LogisticRegression(max_iter=2000, random_state=args.seed))]
    )
    grid = {f"model__{k}": v for k, v in args.param_grid.items()}
    classes, models, scores = {}, {}, {}
    for name in sorted({label for row in labels for label in row}):
        y = np.array([name in row for row in labels], dtype=int)
        if min(y.sum(), len(y) - y.sum()) < args.folds:
            classes[name] = {"status": "skipped", "reason": f"{int(y.sum())} positives"}
            continue
        search = GridSearchCV(estimator, grid, scoring="roc_auc", cv=folds, refit=True).fit(X, y)
        oof = cross_val_predict(search.best_estimator_, X, y, cv=folds, method="predict_proba")[:, 1]
        precision, recall, thresholds = precision_recall_curve(y, oof)
        f1 = 2 * precision[:-1] * recall[:-1] / np.maximum(precision[:-1] + recall[:-1], 1e-12)
        threshold = float(thresholds[int(np.argmax(f1))])
        models[name] = search.best_estimator_
        scores[name] = search.best_estimator_.predict_proba(X)[:, 1]
        classes[name] = {
            "status": "trained",
            "best_params": {k.removeprefix("model__"): v for k, v in search.best_params_.items()},
            "cv_roc_auc": float(search.best_score_),
            "threshold": threshold,
        }
    steps.done("train")

    args.out.mkdir(parents=True, exist_ok=True)
    export = {"token2id": dictionary.token2id, "idf": {str(k): v for k, v in tfidf.idfs.items()}, "classes": {}}
    for name, model in models.items():
        scaler, logistic = model.named_steps["scale"], model.named_steps["model"]
        coef = logistic.coef_.ravel() / scaler.scale_
        export["classes"][name] = {
            "coef_lsi": coef.tolist(),
            "intercept": float(logistic.intercept_[0] - coef @ scaler.mean_),
            "threshold": classes[name]["threshold"],
        }
    (args.out / "model.json").write_text(json.dumps(export))
    with open(args.out / "scores.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id"] + [f"{name}_score" for name in models])
        for i, message_id in enumerate(df["id"]):
            writer.writerow([message_id] + [repr(float(scores[name][i])) for name in models])
    steps.done("export")

    total = round(time.perf_counter() - steps.start, 2)
    args.timings_json.write_text(
        json.dumps({"rows": len(df), "steps": steps.steps, "total_seconds": total, "classes": classes}, indent=2) + "\n"
    )
    print(f"total: {total} s over {len(df):,} messages")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

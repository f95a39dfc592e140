"""The published model: one self-contained, deterministic JSON a client can score with a dot product.

The model is linear from the L2-normalised TF-IDF vector to the logit (TF-IDF -> LSI projection
-> standardisation -> logistic regression), so the projection is folded into one weight per
term and class: `logit = intercept + sum(tfidf[t] * weights[t])`, `score = 1 / (1 + e^-logit)`.
"""
from __future__ import annotations

import hashlib
import json
import random
import re
from typing import Sequence

import numpy as np

from sortbox.linear import LinearClassifier, fold_into_terms
from sortbox.model_file import TFIDF, TOKENIZER_FIELDS
from sortbox.portable_scorer import SCHEMA_VERSION, PortableModel
from sortbox.unicode_tables import build_unicode_tables


def build_model(
    *,
    run_date: str,
    cleaning_spec: dict,
    max_chars: int,
    quarantine_controls: bool,
    token_pattern: str,
    stopwords: Sequence[str],
    stemmer: str | None,
    vocabulary: Sequence[str],
    surface_forms: dict[str, str],
    idf: np.ndarray,
    basis: np.ndarray,
    classifiers: dict[str, dict],
) -> dict:
    """The model JSON as a dict (see README "Model JSON format").

    `vocabulary[i]` is the term of index i (rows of `basis`, entries of `idf`); `surface_forms`
    maps words to terms (only words whose term is in the vocabulary are kept); `classifiers`
    maps class -> {"status", "coef" (LSI space), "intercept", "threshold", ...} and skipped
    classes -> {"status": "skipped", "reason"}. Golden vectors are made-up texts built from the
    model's own words plus `EDGE_CASE_TEXTS` (never a row of the table: the published file
    carries no message text and no id), scored with the stdlib scorer.
    """
    index = {term: i for i, term in enumerate(vocabulary)}
    classes, skipped = {}, {}
    for name, result in sorted(classifiers.items()):
        if result["status"] != "trained":
            skipped[name] = result.get("reason")
            continue
        weights = fold_into_terms(
            LinearClassifier(coef_=np.asarray(result["coef"], dtype=np.float64), intercept_=result["intercept"]), basis
        )
        classes[name] = {
            "weights": [float(w) for w in weights],
            "intercept": float(result["intercept"]),
            "link": "logistic",
            "threshold": float(result["threshold"]["threshold"]),
            "threshold_policy": result["threshold"]["policy"],
            "cv_roc_auc": float(result["roc_auc"]),
        }
    if not classes:
        raise ValueError(f"no class could be trained: {skipped}")
    model = {
        "schema_version": SCHEMA_VERSION,
        "run_date": run_date,
        "cleaning": cleaning_spec,
        "unicode": build_unicode_tables(cleaning_spec["unicode_normalization"]),
        "quarantine": {"max_chars": max_chars, "control_characters": quarantine_controls},
        "tokenizer": {"pattern": token_pattern, **TOKENIZER_FIELDS},
        "stopwords": sorted(stopwords),
        "terms": {
            "stemmer": stemmer,
            "surface_forms": {form: index[term] for form, term in sorted(surface_forms.items()) if term in index},
        },
        "vocabulary": list(vocabulary),
        "tfidf": dict(TFIDF),
        "idf": [float(x) for x in idf],
        "classes": classes,
        "skipped_classes": skipped,
        "golden": [],
        "model_id": "0" * 64,  # a placeholder, so that the scorer can check the rest of the model
    }
    model["golden"] = golden_vectors(model, synthetic_golden_texts(model) + list(EDGE_CASE_TEXTS))
    model["model_id"] = content_id(model)
    return model


def case_entry(scorer: PortableModel, model: dict, raw: str) -> dict:
    """What the scorer makes of one raw text: `unscorable` "quarantined:<reason>", or the cleaned
    text, its words and terms, then per class the score and decision (or the reason it has none)."""
    cleaned, reason = scorer.clean(raw)
    if reason:
        return {"unscorable": f"quarantined:{reason}"}
    entry: dict = {
        "cleaned": cleaned,
        "words": scorer.words(cleaned),
        "terms": [model["vocabulary"][i] for i in scorer.term_indices(cleaned)],
    }
    scores, reason = scorer.score(raw)
    if reason:
        entry["unscorable"] = reason
    else:
        entry["scores"] = dict(zip(scorer.class_names, scores))
        entry["decisions"] = {
            name: int(s >= model["classes"][name]["threshold"]) for name, s in zip(scorer.class_names, scores)
        }
    return entry


def golden_vectors(model: dict, texts: Sequence[tuple[str, str]]) -> list[dict]:
    """Expected cleaning, words, terms and scores for `texts` (id, raw text), from the stdlib scorer."""
    scorer = PortableModel(model)
    return [{"id": message_id, "text": text, **case_entry(scorer, model, text)} for message_id, text in texts]


def synthetic_golden_texts(model: dict, *, count: int = 24, seed: int = 0) -> list[tuple[str, str]]:
    """(id, text) pairs made up from the model's own words: per class, its three strongest words
    each way; then `count` mixtures of informative and other words, written as a person might
    (capitals, other digits where digits read 0, punctuation, repeats, a stopword, an unknown
    word). Deterministic for a model and seed. Ids are `golden-<n>`, never an id of the table."""
    pattern = re.compile(model["tokenizer"]["pattern"])
    stopwords = set(model["stopwords"])
    word_of: dict[int, str] = {}  # term index -> one surface form that is a single word
    for word, index in sorted(model["terms"]["surface_forms"].items()):
        if index not in word_of and word not in stopwords and pattern.fullmatch(word):
            word_of[index] = word
    idf = model["idf"]
    rng = random.Random(seed)
    texts: list[str] = []
    informative: list[str] = []
    for name in sorted(model["classes"]):
        weights = model["classes"][name]["weights"]
        ranked = sorted((i for i in word_of if idf[i] > 0), key=lambda i: (-weights[i] * idf[i], word_of[i]))
        for chosen in (ranked[:3], ranked[::-1][:3]):
            words = [word_of[i] for i in chosen]
            informative += words
            if words:
                texts.append(" ".join(_as_written(w, rng, model) for w in words))
    others = sorted(word_of.values())
    for _ in range(count if word_of else 0):
        words = rng.sample(informative, min(len(informative), rng.randint(1, 3))) + rng.sample(
            others, min(len(others), rng.randint(0, 4))
        )
        if rng.random() < 0.3:
            words.append(rng.choice(words))  # a repeated word counts twice
        if stopwords and rng.random() < 0.3:
            words.append(rng.choice(sorted(stopwords)))
        if rng.random() < 0.2:
            words.append("zzqxv")  # not a word of any vocabulary
        rng.shuffle(words)
        text = " ".join(_as_written(w, rng, model) for w in words)
        texts.append(text + rng.choice(["", "!", "!!", "?", ".", " :)", "..."]))
    return [(f"golden-{number:02d}", text) for number, text in enumerate(texts, start=1)]


def _as_written(word: str, rng: random.Random, model: dict) -> str:
    """A cleaned word as a person might type it: cleaning gives the word back."""
    if model["cleaning"]["digits"] == "zero":
        word = "".join(str(rng.randint(0, 9)) if c == "0" else c for c in word)
    if model["cleaning"]["lowercase"] and word.isascii():
        word = rng.choice([word, word.upper(), word.capitalize()])
    return word


def content_id(model: dict) -> str:
    """sha256 of the model's content, run date and id excluded: the same model has the same id."""
    content = {key: value for key, value in model.items() if key not in ("model_id", "run_date")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def model_json_bytes(model: dict) -> bytes:
    """Canonical serialisation: sorted keys, no wall-clock time, ASCII, one trailing newline."""
    return (json.dumps(model, sort_keys=True, separators=(",", ":"), ensure_ascii=True) + "\n").encode("ascii")


#: Made-up messages that exercise every cleaning step, added to the golden vectors.
EDGE_CASE_TEXTS = (
    ("edge-case", "WINNER!! Claim your £1000 PRIZE now: call 01234 567890"),
    ("edge-emoji", "Happy birthday \U0001F382\U0001F389 see you tonight \u2764\ufe0f"),
    ("edge-quotes", "I don\u2019t think that\x92s right \u2014 call me"),
    ("edge-fullwidth", "ＦＲＥＥ ｅｎｔｒｙ ２０２６"),
    ("edge-tabs", "line one\tline two\nline three"),
    ("edge-unknown", "zzqx vrrmph"),
    ("edge-emoji-only", "\U0001F600\U0001F600"),
    ("edge-control", "bad\x00byte"),
)

"""EmbedMessages' training sample and the per-class tasks that read it, on the shipped sample."""
import datetime as dt

import numpy as np
import pyarrow.parquet as pq

from sortbox.checkpoint import read_json
from sortbox.sampling import holdout_mask, training_rows
from tasks.embed import EmbedMessages, load_tfidf_inputs
from tasks.train import FitClassifier
from tests.conftest import run_luigi

RUN_DATE = dt.date(2026, 11, 24)


def test_max_rows_caps_the_training_sample_by_id_hash(sample_sqlite, pipeline_env, luigi_config):
    pipeline_env(sample_sqlite)
    luigi_config({"lsi": {"num_topics": "20"}, "training": {"max_rows": "700"}})
    result = run_luigi([FitClassifier(run_date=RUN_DATE, class_name="spam")])
    assert result.scheduling_succeeded, result.summary_text

    embed = EmbedMessages(run_date=RUN_DATE).output_dir()
    features, rows = np.load(embed / "features.npy"), np.load(embed / "rows.npy")
    summary = read_json(embed / "summary.json")
    assert features.shape == (700, 20) and features.dtype == np.float32 and len(rows) == 700
    assert summary["trained_on"] == 700 and summary["eligible"] > 700

    tokens = pq.read_table(next(embed.parent.glob("TokenizeMessages-*/tokens.parquet")))
    ids = tokens.column("id").to_pylist()
    _, token2id, _ = load_tfidf_inputs(
        next(embed.parent.glob("BuildDictionary-*")), next(embed.parent.glob("FitTfidf-*"))
    )
    has_terms = np.array([any(t in token2id for t in terms) for terms in tokens.column("terms").to_pylist()])
    assert not holdout_mask([ids[r] for r in rows], fraction=0.1, seed=1).any()  # never a held-out id
    assert rows.tolist() == training_rows(ids, has_terms, holdout_fraction=0.1, seed=1, max_rows=700).tolist()

    classifier = read_json(FitClassifier(run_date=RUN_DATE, class_name="spam").output_dir() / "classifier.json")
    assert classifier["status"] == "trained" and classifier["messages"] == 700

"""The training DAG in shards: the same data gives byte-identical outputs whatever the number of
workers, and the same models and scores whatever the number of shards (README, "Shards")."""

import datetime as dt
import json

import pyarrow.parquet as pq

from sortbox.checkpoint import comparable_output
from tests.conftest import SMALL_TRAINING, run_luigi
from workflows.train import TrainPipeline

RUN_DATE = dt.date(2026, 11, 23)
SMALL = {
    "lsi": {"num_topics": "40"},
    "training": SMALL_TRAINING,
    "source": {"since": "", "until": "", "sample_fraction": "0.2", "sample_seed": "3"},
}
SHARD_FAMILIES = {"PlanShards", "ExtractShard", "CleanShard", "LabelShard", "TokenizeShard"}


def train(luigi_config, root, *, shards: int, workers: int):
    luigi_config({**SMALL, "paths": {"output_root": str(root)}, "shards": {"count": str(shards)}})
    result = run_luigi([TrainPipeline(run_date=RUN_DATE)], workers=workers)
    assert result.scheduling_succeeded, result.summary_text
    scheduled = list(result.worker._scheduled_tasks.values())
    assert SHARD_FAMILIES <= {task.get_task_family() for task in scheduled}
    assert sorted(t.shard for t in scheduled if t.get_task_family() == "TokenizeShard") == list(range(shards))
    manifest_path = TrainPipeline(run_date=RUN_DATE).manifest_path()
    return json.loads(manifest_path.read_text()), manifest_path.parent


def files_of(root):
    """Every output file, less the fit timings and the output root (sortbox.checkpoint.comparable_output)."""
    return {str(p.relative_to(root)): comparable_output(p, root) for p in sorted(root.rglob("*")) if p.is_file()}


def artifact(manifest_dir, manifest, key):
    return (manifest_dir / manifest["artifacts"][key]).resolve()


def test_shards_and_workers_change_no_model_and_no_score(sample_sqlite, pipeline_env, luigi_config, tmp_path):
    pipeline_env(sample_sqlite)
    one, one_dir = train(luigi_config, tmp_path / "one-shard", shards=1, workers=1)
    three, three_dir = train(luigi_config, tmp_path / "three-shards", shards=3, workers=1)
    parallel, parallel_dir = train(luigi_config, tmp_path / "three-shards-two-workers", shards=3, workers=2)

    # Three shards, one worker or two: every output file byte-identical (but the fit timings), under the same names.
    assert files_of(tmp_path / "three-shards") == files_of(tmp_path / "three-shards-two-workers")

    # One shard or three: the same rows in the same order, so the same models and scores, byte for byte.
    for key in ("model_json", "scores_csv", "unscorable_csv", "rule_report_csv"):
        assert artifact(one_dir, one, key).read_bytes() == artifact(three_dir, three, key).read_bytes(), key
    assert one["rows"] == three["rows"] and one["classes"] == three["classes"]
    quarantine = [pq.read_table(artifact(d, m, "quarantine_parquet")) for d, m in ((one_dir, one), (three_dir, three))]
    assert quarantine[0].equals(quarantine[1]) and one["rows"]["extracted"] > 1000
    plan = json.loads(next((tmp_path / "three-shards").rglob("PlanShards-*/plan.json")).read_text())
    assert plan["shards"] == 3 and sum(plan["rows"]) == plan["total"] == one["rows"]["extracted"]
    assert min(plan["rows"]) > 0.25 * plan["total"]  # the id hash spreads the rows evenly

"""A night means its date (an old night reruns to the same model.json and is not made current unless
forced), and the drift report of every night (alert on a shifted night, ok on an unchanged one)."""

import datetime as dt
import json
import logging
import random
import re
import shutil
import sqlite3
from pathlib import Path

from sortbox.publish import PROFILE_FILE, current_release, release_info
from tests.conftest import SMALL_TRAINING, run_luigi
from workflows.nightly import NightlyRetrain

SMALL = {
    "lsi": {"num_topics": "40"},
    "training": SMALL_TRAINING,
    "labelling": {"source": "column"},
}
NEW_WORDS = ["zorblax", "quintaflux", "vembrio", "glarnish", "oxtrevo", "plimsy", "draquor", "festulon"]


def copy_sample(sample_sqlite: str, path: Path) -> str:
    shutil.copy(sample_sqlite.removeprefix("sqlite:///"), path)
    return f"sqlite:///{path}"


def night(date: dt.date, url: str, monkeypatch, **params) -> tuple[dict, Path]:
    """Run NightlyRetrain for `date` on `url`; returns (nightly.json, its directory)."""
    monkeypatch.setenv("SORTBOX_DB_URL", url)
    result = run_luigi([NightlyRetrain(date=date, **params)])
    assert result.scheduling_succeeded, result.summary_text
    directory = NightlyRetrain(date=date, **params).output_dir()
    return json.loads((directory / "nightly.json").read_text()), directory


def manifest(nightly: dict, directory: Path) -> dict:
    return json.loads((directory / nightly["artifacts"]["manifest"]).read_text())


def artifact(nightly: dict, directory: Path, name: str) -> Path:
    return (directory / nightly["artifacts"]["manifest"]).parent / manifest(nightly, directory)["artifacts"][name]


def shift_week(path: Path, since: str, until: str) -> None:
    """In [since, until): three times the spam share (ham rows take spam bodies from elsewhere) and
    a burst of new words (five in three messages out of five)."""
    rng = random.Random(3)
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT id, truth FROM messages WHERE received_at >= ? AND received_at < ? ORDER BY id", (since, until)
        ).fetchall()
        spam_bodies = [
            b
            for (b,) in conn.execute(
                "SELECT body FROM messages WHERE truth = 'spam' AND received_at >= ? ORDER BY id", (until,)
            )
        ]
        spam_share = sum(t == "spam" for _, t in rows) / len(rows)
        ham = [i for i, t in rows if t == "ham"]
        turned = rng.sample(ham, round(2 * spam_share * len(rows)))
        conn.executemany(
            "UPDATE messages SET body = ?, truth = 'spam' WHERE id = ?", [(rng.choice(spam_bodies), i) for i in turned]
        )
        burst = rng.sample([i for i, _ in rows], len(rows) * 3 // 5)
        conn.executemany(
            "UPDATE messages SET body = body || ' ' || ? WHERE id = ?",
            [(" ".join(rng.sample(NEW_WORDS, 5)), i) for i in burst],
        )


def drift_outputs(nightly: dict, directory: Path) -> tuple[dict, str]:
    html = directory / nightly["artifacts"]["drift_html"]
    return json.loads((html.parent / "drift.json").read_text()), html.read_text()


def test_nights_mean_their_date_and_report_drift(
    sample_sqlite, pipeline_env, luigi_config, tmp_path, monkeypatch, caplog
):
    """One sequence of nights (each a full NightlyRetrain, so they are shared by both stories):

    - the date: an old night reruns, from nothing and after newer rows arrived, to the same
      model.json, byte for byte, and is not made current over a newer live release unless forced;
    - drift: the first night has nothing to compare with (n/a), an unchanged night is ok, and a
      night whose week was shifted alerts, holds its release back and carries no message text.
    """
    path = tmp_path / "growing.sqlite"
    url = copy_sample(sample_sqlite, path)
    with sqlite3.connect(path) as conn:  # the table as it was on the morning of 2026-01-11
        conn.execute("CREATE TABLE later AS SELECT * FROM messages WHERE received_at >= '2026-01-11'")
        conn.execute("DELETE FROM messages WHERE received_at >= '2026-01-11'")
        total_then = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    pipeline_env(url)
    root = tmp_path / "published"
    luigi_config({**SMALL, "publish": {"root": str(root)}, "nightly": {"window_days": "7"}})

    first, first_dir = night(dt.date(2026, 1, 7), url, monkeypatch)
    model_bytes = artifact(first, first_dir, "model_json").read_bytes()
    assert first["published"] and release_info(current_release(root))["run_date"] == "2026-01-07"
    report, _ = drift_outputs(first, first_dir)
    assert first["drift"]["status"] == report["status"] == "n/a" and "no release is live yet" in report["note"]
    assert (current_release(root) / PROFILE_FILE).is_file()
    shutil.copytree(root, tmp_path / "published-shifted", symlinks=True)

    with sqlite3.connect(path) as conn:  # newer rows arrive, and a newer night goes live
        conn.execute("INSERT INTO messages SELECT * FROM later")
        total_now = conn.execute("SELECT count(*) FROM messages").fetchone()[0]
    assert total_now > total_then
    unchanged, unchanged_dir = night(dt.date(2026, 1, 14), url, monkeypatch)
    report, _ = drift_outputs(unchanged, unchanged_dir)
    assert report["live_night"] == "2026-01-07"
    assert report["status"] == "ok", [m for m in report["measures"] if m["status"] != "ok"]
    assert unchanged["drift"] == {"status": "ok", "alerts": []} and unchanged["published"]
    assert manifest(unchanged, unchanged_dir)["drift"]["status"] == "ok"
    live = current_release(root)

    # The old night again, from nothing (a fresh output root): the same model, byte for byte ...
    luigi_config({"paths": {"output_root": str(tmp_path / "rerun")}})
    with caplog.at_level(logging.WARNING, logger="luigi-interface"):
        again, again_dir = night(dt.date(2026, 1, 7), url, monkeypatch)
    assert artifact(again, again_dir, "model_json").read_bytes() == model_bytes
    assert (
        manifest(again, again_dir)["rows"]["extracted"] == manifest(first, first_dir)["rows"]["extracted"] < total_now
    )
    # ... trained and gated, but not made current: the live release is newer.
    assert again["published"] is False and "older than the live release's night 2026-01-14" in again["held_because"]
    assert current_release(root) == live
    assert re.search(r"night 2026-01-07 trained and gated but NOT published: .*older.*--force-publish", caplog.text)

    forced, _ = night(dt.date(2026, 1, 7), url, monkeypatch, force_publish=True)
    assert forced["published"] is True and release_info(current_release(root))["run_date"] == "2026-01-07"

    # The week before 2026-01-14 shifted, judged against the release of 2026-01-07.
    shifted_path = tmp_path / "shifted.sqlite"
    shifted_url = copy_sample(sample_sqlite, shifted_path)
    shift_week(shifted_path, "2026-01-08", "2026-01-15")
    luigi_config(
        {
            "paths": {"output_root": str(tmp_path / "runs-shifted")},
            "publish": {"root": str(tmp_path / "published-shifted")},
            "drift": {"block_publish_on": "alert"},
        }
    )
    shifted, shifted_dir = night(dt.date(2026, 1, 14), shifted_url, monkeypatch)
    report, page = drift_outputs(shifted, shifted_dir)
    assert report["status"] == "alert"
    alerts = {(m["measure"], m["subject"]) for m in report["measures"] if m["status"] == "alert"}
    assert {
        ("label_share", "spam"),
        ("label_share", "ham"),
        ("unknown_word_share", "spam"),
        ("score_psi", "spam"),
    } <= alerts, alerts
    assert {m["status"] for m in report["measures"] if m["measure"] == "rows_change"} == {
        "ok"
    }  # the row count did not move
    # The worst status reaches the gate, the manifest and nightly.json;
    # [drift] block_publish_on = alert holds the release back.
    gate = json.loads(next((shifted_dir.parent).glob("GateModels-*/gate.json")).read_text())
    assert (
        gate["drift"]["status"]
        == manifest(shifted, shifted_dir)["drift"]["status"]
        == shifted["drift"]["status"]
        == "alert"
    )
    assert shifted["published"] is False and "drift status alert" in shifted["held_because"]
    assert release_info(current_release(tmp_path / "published-shifted"))["run_date"] == "2026-01-07"
    # The page has its plots inline and carries no message text.
    assert page.count("src='data:image/png;base64,") >= 3 and "http" not in page
    with sqlite3.connect(shifted_path) as conn:
        bodies = [
            b
            for (b,) in conn.execute(
                "SELECT body FROM messages WHERE received_at >= '2026-01-08' AND received_at < '2026-01-15'"
            )
            if b and len(b) >= 20
        ]
    drift_dir = (shifted_dir / shifted["artifacts"]["drift_html"]).parent
    for written in [*drift_dir.iterdir()]:
        text = written.read_text()
        assert not any(body in text for body in bodies) and "zorblax" not in text, written

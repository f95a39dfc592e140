"""Published files carry no data: after a nightly run on the sample, nothing under the publish root
and no model.json holds a message text or a message id of the table; a bad champion in the
publish root fails the gate naming the file, at once."""
import datetime as dt
import json
import shutil
import sqlite3

from luigi.execution_summary import LuigiStatusCode

from sortbox.publish import current_release
from tasks.publish import GateModels
from tests.conftest import run_luigi
from tests.end_to_end.test_nightly_gate import SMALL
from workflows.nightly import NightlyRetrain

NIGHT = dt.date(2026, 1, 5)


def json_strings(value) -> list[str]:
    """Every string (keys included) of a parsed JSON value."""
    strings, stack = [], [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            strings.append(item)
        elif isinstance(item, dict):
            strings += item.keys()
            stack += item.values()
        elif isinstance(item, list):
            stack += item
    return strings


def test_published_files_and_model_json_carry_no_message_text_or_id(sample_sqlite, pipeline_env, luigi_config, tmp_path, caplog):
    runs = pipeline_env(sample_sqlite)
    root = tmp_path / "published"
    luigi_config({**SMALL, "publish": {"root": str(root)}})
    result = run_luigi([NightlyRetrain(date=NIGHT)])
    assert result.scheduling_succeeded and result.status == LuigiStatusCode.SUCCESS, result.summary_text

    with sqlite3.connect(sample_sqlite.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT id, body FROM messages").fetchall()
    texts = sorted({body for _, body in rows if body and len(body) > 15})
    ids = {str(i) for i, _ in rows}
    assert len(texts) > 4000
    published = sorted(path for path in root.rglob("*") if path.is_file())
    models = sorted(runs.rglob("model.json")) + [path for path in published if path.name.startswith("model-")]
    assert len(models) >= 3 and any(path.name == "release.json" for path in published)
    for path in sorted(set(published) | set(models)):
        content = path.read_text(encoding="utf-8")
        # JSON escapes non-ASCII characters: look in the decoded strings (only those that could
        # hold a text of more than 15 characters), and in the raw text of any other file.
        strings = [s for s in json_strings(json.loads(content)) if len(s) > 15] if path.suffix == ".json" else [content]
        haystack = "\0".join(strings)
        leaked = [text for text in texts if text in haystack]
        assert not leaked, f"{path} holds {len(leaked)} message texts, e.g. {leaked[0]!r}"
    for path in models:
        golden = json.loads(path.read_text(encoding="utf-8"))["golden"]
        assert len(golden) >= 20 and not {entry["id"] for entry in golden} & ids, path

    # The champion is now this release: a hostile tokenizer pattern in it fails the gate at once.
    champion = sorted(current_release(root).glob("model-*.json"))[0]
    model = json.loads(champion.read_text(encoding="utf-8"))
    model["tokenizer"]["pattern"] = r"(\w+\s?)+$"
    champion.write_text(json.dumps(model), encoding="utf-8")
    shutil.rmtree(GateModels(run_date=NIGHT).output_dir())
    caplog.clear()
    again = run_luigi([GateModels(run_date=NIGHT)])
    assert again.status == LuigiStatusCode.FAILED, again.summary_text
    assert f"ModelFileError: model file {champion}: tokenizer.pattern: must be the pattern sortbox writes" in caplog.text

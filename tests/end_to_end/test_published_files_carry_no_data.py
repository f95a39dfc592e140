"""Published files carry no data: after a nightly run on the sample (scripts/nightly.sh, as cron
runs it), nothing under the publish root and no model.json holds a message text or a message id of
the table. A hostile champion in the publish root then fails the night's gate at once, naming the
file: the night exits 30, releases its lock, and leaves the published release alone."""
import json
import shutil
import sqlite3

from tests.end_to_end.test_nightly_script import FIRST, NIGHTLY, Site, lock_is_held


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


def test_published_files_and_model_json_carry_no_message_text_or_id(sample_sqlite, tmp_path):
    site = Site(tmp_path, sample_sqlite)
    site.nightly(FIRST)

    with sqlite3.connect(sample_sqlite.removeprefix("sqlite:///")) as conn:
        rows = conn.execute("SELECT id, body FROM messages").fetchall()
    texts = sorted({body for _, body in rows if body and len(body) > 15})
    ids = {str(i) for i, _ in rows}
    assert len(texts) > 4000
    published = sorted(path for path in site.publish_root.rglob("*") if path.is_file())
    models = sorted((tmp_path / "runs").rglob("model.json")) + [
        path for path in published if path.name.startswith("model-")
    ]
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

    # The champion now holds a backtracking tokenizer pattern. The night is run again (its gate,
    # publish and summary outputs removed, so that the gate runs with this champion): it fails at
    # once naming the file, exits 30, and releases the lock; the published release is untouched.
    before = site.snapshot()
    champion = sorted(site.current().glob("model-*.json"))[0]
    model = json.loads(champion.read_text(encoding="utf-8"))
    model["tokenizer"]["pattern"] = r"(\w+\s?)+$"
    champion.write_text(json.dumps(model), encoding="utf-8")
    for task in ("GateModels", "PublishModels", "NightlyRetrain"):
        (output,) = (tmp_path / "runs" / FIRST).glob(f"{task}-*")
        shutil.rmtree(output)
    logged = len(site.log(FIRST).read_text(encoding="utf-8"))
    done = site.run(NIGHTLY, FIRST, timeout=120)
    log = site.log(FIRST).read_text(encoding="utf-8")[logged:]
    assert done.returncode == site.retcode["task_failed"], f"exit {done.returncode}\n{log[-4000:]}"
    assert f"ModelFileError: model file {champion}: tokenizer.pattern: must be the pattern sortbox writes" in log
    assert "failed    GateModels(" in log
    assert site.current() == before["current"] and not lock_is_held(site.lock)

"""Publishing models safely: champion/challenger gate per class, dated releases, atomic swap, rollback.

Layout under the publish root:

    releases/<release>/model-<class>.json   one single-class model JSON (schema 1) per class
    releases/<release>/release.json         what the release holds and why
    current -> releases/<release>           symlink, swapped atomically (rename of a new link)
    history.json                            releases in the order they went live

Each class file is a complete model JSON, so a phone client loads one file per class and scores it
exactly as described in the README; a release can mix classes trained on different nights.
"""
from __future__ import annotations

import json
import os
import shutil
import uuid
from pathlib import Path
from typing import Sequence

import numpy as np

from sortbox.export import content_id, model_json_bytes
from sortbox.model_file import ModelFileError, read_model_file
from sortbox.portable_scorer import PortableModel
from sortbox.scoring import VectorModel

CURRENT = "current"
HISTORY = "history.json"
RELEASE_FILE = "release.json"
#: The drift profile of the release's own night under its own models (see sortbox/drift.py).
PROFILE_FILE = "drift_profile.json"


class PublishError(RuntimeError):
    """The publish root is not in a state that allows the requested operation."""


def single_class_model(model: dict, class_name: str) -> dict:
    """The model JSON restricted to one class (golden vectors too), with its own content id."""
    single = {
        key: value for key, value in model.items() if key not in ("classes", "skipped_classes", "golden", "model_id")
    }
    single["classes"] = {class_name: model["classes"][class_name]}
    single["skipped_classes"] = {}
    single["golden"] = []
    for entry in model["golden"]:
        entry = dict(entry)
        if "scores" in entry:
            entry["scores"] = {class_name: entry["scores"][class_name]}
            entry["decisions"] = {class_name: entry["decisions"][class_name]}
        single["golden"].append(entry)
    single["model_id"] = content_id(single)
    return single


def holdout_scores(model: dict, texts: Sequence[str | None]) -> tuple[np.ndarray, np.ndarray]:
    """(probabilities: texts x classes in sorted class order, scorable mask) with the model's own cleaning."""
    portable, vector = PortableModel(model), VectorModel(model)
    cleaned = [portable.clean(text)[0] for text in texts]
    usable = np.array([c is not None for c in cleaned])
    scores = np.full((len(texts), len(vector.class_names)), np.nan)
    known = np.zeros(len(texts), dtype=bool)
    rows = np.flatnonzero(usable)
    if len(rows):
        probabilities, known_rows = vector.score([cleaned[i] for i in rows])
        scores[rows] = probabilities
        known[rows] = known_rows
    return scores, known


def gate(
    challenger: dict,
    champions: dict[str, dict],
    texts: Sequence[str | None],
    labels: Sequence[Sequence[str]],
    *,
    margin: float,
) -> dict[str, dict]:
    """Decide per class whether the challenger's model replaces the published one.

    `champions` maps class -> the published single-class model. Both are scored on the same
    held-out rows (those both can score); a class is published when it has no champion, or
    when its ROC AUC is not below the champion's by more than `margin`. A champion class the
    challenger could not train is kept. Returns class -> {"decision": "publish"|"keep", "reason", AUCs}.
    """
    decisions: dict[str, dict] = {}
    challenger_scores, challenger_known = holdout_scores(challenger, texts)
    challenger_classes = sorted(challenger["classes"])
    for name in sorted(set(challenger_classes) | set(champions)):
        if name not in challenger["classes"]:
            why = challenger.get("skipped_classes", {}).get(name, "not in the new model")
            decisions[name] = {"decision": "keep", "reason": f"the new model has no {name!r} classifier ({why})"}
            continue
        if name not in champions:
            decisions[name] = {"decision": "publish", "reason": "no published model for this class yet"}
            continue
        champion_scores, champion_known = holdout_scores(champions[name], texts)
        rows = challenger_known & champion_known
        y = np.array([name in row for row in labels])[rows]
        if len(y) == 0 or y.all() or not y.any():
            decisions[name] = {
                "decision": "keep",
                "reason": (
                    f"the held-out rows cannot judge {name!r} (need positives and negatives both models can score)"
                ),
            }
            continue
        from sklearn.metrics import roc_auc_score  # here, not at the top: see sortbox/model_selection.py

        new = float(roc_auc_score(y, challenger_scores[rows, challenger_classes.index(name)]))
        old = float(roc_auc_score(y, champion_scores[rows, 0]))
        entry = {"challenger_roc_auc": new, "champion_roc_auc": old, "held_out_rows": int(rows.sum()), "margin": margin}
        if new >= old - margin:
            decisions[name] = {
                "decision": "publish",
                "reason": f"ROC AUC {new:.4f} vs published {old:.4f} (margin {margin})",
                **entry,
            }
        else:
            decisions[name] = {
                "decision": "keep",
                "reason": f"worse: ROC AUC {new:.4f} vs published {old:.4f} (margin {margin})",
                **entry,
            }
    return decisions


def current_release(root: Path) -> Path | None:
    """The release directory `current` points at, or None before the first publish."""
    link = Path(root) / CURRENT
    return link.resolve() if link.is_symlink() else None


def release_info(release: Path) -> dict:
    """A release's release.json (its night is "run_date")."""
    return json.loads((release / RELEASE_FILE).read_text(encoding="utf-8"))


def hold_reason(night: str, live_night: str | None, *, drift_status: str, block_on: str, force: bool) -> str | None:
    """Why night `night` (ISO date) must not become current, or None: it is older than the night
    of the live release, or its drift status is `block_on` or worse (`block_on` "none": never).
    `force` publishes anyway."""
    if force:
        return None
    if live_night is not None and night < live_night:
        return f"night {night} is older than the live release's night {live_night}"
    order = ("ok", "warn", "alert")
    if block_on != "none" and drift_status in order and order.index(drift_status) >= order.index(block_on):
        return f"drift status {drift_status} and [drift] block_publish_on = {block_on}"
    return None


def release_models(release: Path) -> dict[str, dict]:
    """class -> single-class model JSON of a release, every file checked as untrusted input
    (sortbox.model_file): a bad one is one ModelFileError line naming it."""
    info_path = Path(release) / RELEASE_FILE
    try:
        files = {
            name: entry["file"] for name, entry in json.loads(info_path.read_text(encoding="utf-8"))["classes"].items()
        }
    except (OSError, ValueError, RecursionError, KeyError, TypeError, AttributeError) as exc:
        raise ModelFileError(
            f"release file {info_path}: not a sortbox release ({type(exc).__name__}: {str(exc)[:200]})"
        ) from None
    models = {}
    for name, file_name in files.items():
        if type(file_name) is not str or Path(file_name).name != file_name or not file_name.endswith(".json"):
            raise ModelFileError(
                f"release file {info_path}: class {str(name)[:50]!r} names {str(file_name)[:80]!r}, "
                "not a model file of the release"
            )
        model = read_model_file(Path(release) / file_name)
        if list(model["classes"]) != [name]:
            raise ModelFileError(
                f"model file {Path(release) / file_name}: "
                f"holds classes {sorted(model['classes'])[:5]}, release.json says {str(name)[:50]!r}"
            )
        models[name] = model
    return models


def _history(root: Path) -> list[str]:
    path = root / HISTORY
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else []


def _write_atomically(path: Path, data: bytes) -> None:
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    partial.write_bytes(data)
    os.replace(partial, path)


def _point_current(root: Path, release: Path) -> None:
    # A new symlink renamed over the old one: readers see the old or the new release, never neither.
    link = root / f".{CURRENT}.{uuid.uuid4().hex}"
    os.symlink(os.path.relpath(release, root), link)
    os.replace(link, root / CURRENT)


def publish_release(root: Path, name: str, files: dict[str, bytes], info: dict, *, keep: int) -> Path:
    """Write a release directory (temporary name, renamed once), make it current, prune old ones.

    `files` maps file name -> bytes; `info` becomes release.json. Publishing the same release
    name again (a rerun of the same night) only makes it current. Keeps the newest `keep`
    releases of the history (never the current one).
    """
    if keep < 1:
        raise PublishError(f"keep must be at least 1 (the current release), got {keep}")
    root = Path(root)
    releases = root / "releases"
    releases.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    target = releases / name
    if not target.exists():
        partial = releases / f".{name}.{uuid.uuid4().hex}"
        partial.mkdir()
        try:
            for file_name, data in files.items():
                (partial / file_name).write_bytes(data)
            (partial / RELEASE_FILE).write_text(json.dumps(info, indent=2, sort_keys=True) + "\n", encoding="utf-8")
            os.replace(partial, target)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
    _point_current(root, target)
    history = [entry for entry in _history(root) if entry != name] + [name]
    _write_atomically(root / HISTORY, (json.dumps(history[-keep:], indent=2) + "\n").encode())
    for old in history[:-keep]:
        shutil.rmtree(releases / old, ignore_errors=True)
    return target


def rollback(root: Path) -> Path:
    """Make the release before the current one current again (one command undoes one publish)."""
    root = Path(root)
    history = _history(root)
    if len(history) < 2:
        raise PublishError(f"{root}: nothing to roll back to (history: {history})")
    previous = root / "releases" / history[-2]
    if not previous.is_dir():
        raise PublishError(f"{root}: the previous release {history[-2]!r} is gone")
    _point_current(root, previous)
    _write_atomically(root / HISTORY, (json.dumps(history[:-1], indent=2) + "\n").encode())
    return previous


def release_files(
    challenger: dict, champions: dict[str, dict], decisions: dict[str, dict]
) -> tuple[dict[str, bytes], dict]:
    """The files of the next release and its release.json classes section."""
    files: dict[str, bytes] = {}
    classes: dict[str, dict] = {}
    for name, decision in sorted(decisions.items()):
        if decision["decision"] == "publish":
            model = single_class_model(challenger, name)
        elif name in champions:
            model = champions[name]
        else:
            continue  # neither a new nor a published model: the class is absent
        file_name = f"model-{name}.json"
        files[file_name] = model_json_bytes(model)
        classes[name] = {"file": file_name, "model_id": model["model_id"], "trained_on": model["run_date"], **decision}
    if not files:
        raise PublishError("no class has a model to publish")
    return files, classes

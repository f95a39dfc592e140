"""The run manifest: what a run read, produced and decided, as one JSON-able dict."""
from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
from pathlib import Path

#: Libraries whose versions are recorded (the ones that shape results).
RECORDED_LIBRARIES = (
    "luigi",
    "SQLAlchemy",
    "pyarrow",
    "numpy",
    "scipy",
    "nltk",
    "google-re2",
    "gensim",
    "scikit-learn",
)


def library_versions() -> dict[str, str | None]:
    """Installed versions of RECORDED_LIBRARIES (None when one is missing)."""
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for name in RECORDED_LIBRARIES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def git_sha(repo: Path) -> str | None:
    """The commit the code ran from, or None outside a git checkout."""
    try:
        out = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def relative_artifacts(manifest_dir: Path, artifacts: dict[str, Path | None]) -> dict[str, str | None]:
    """Artifact paths relative to the manifest's directory (None stays None)."""
    return {
        name: (os.path.relpath(path, manifest_dir) if path is not None else None) for name, path in artifacts.items()
    }


def class_entry(entry: dict) -> dict:
    """The manifest's view of one class of TrainClassifiers' classes.json: status, reason, CV
    figures, threshold, parameters."""
    cv = entry["cv"]
    result = {
        "status": entry["status"],
        "reason": entry["reason"],
        "cv_roc_auc": cv.get("roc_auc"),
        "cv_pr_auc": cv.get("pr_auc"),
        "threshold": cv["threshold"]["threshold"] if "threshold" in cv else None,
        "best_params": cv.get("best_params"),
        "positives": entry["grid"].get("positives"),
    }
    if "against_truth" in cv:
        result["roc_auc_against_truth"] = cv["against_truth"]["roc_auc"]
    return result


def build_manifest(
    *,
    run_date: str,
    code: dict,
    parameters: dict,
    clean: dict,
    labels: dict,
    tokens: dict,
    classes: dict,
    scores: dict,
    feedback: dict,
    artifacts: dict[str, str | None],
    drift: dict | None = None,
) -> dict:
    """The run manifest from the summaries of the run's tasks: cleaning's, labelling's,
    tokenising's and scoring's summary.json, TrainClassifiers' classes.json, EvaluateFeedback's
    feedback.json (and a night's drift.json); `code` holds git_sha and versions, `artifacts` the
    paths relative to the manifest (relative_artifacts)."""
    manifest = {
        "run_date": run_date,
        **code,
        "model_id": scores["model_id"],
        "parameters": parameters,
        "rows": {
            "extracted": clean["extracted"],
            "clean": clean["clean"],
            "quarantined": clean["quarantined"],
            "quarantine_reasons": clean["reasons"],
            "scored": scores["scored"],
            "unscorable": scores["unscorable"],
            "unscorable_reasons": scores["unscorable_reasons"],
        },
        "labels": {
            "source": labels["source"],
            "messages_per_class": labels["classes"],
            "fallback_rules": labels["fallback_rules"],
            "classes_without_rules": labels.get("classes_without_rules", {}),
            "ignored_rule_files": labels.get("ignored_rule_files", []),
            "feedback": labels.get("feedback"),
        },
        "vocabulary": {"distinct_terms": tokens["distinct_terms"], "kept": tokens["vocabulary"]},
        "classes": {name: class_entry(entry) for name, entry in classes.items()},
        "feedback": feedback,
        "artifacts": artifacts,
    }
    if drift is not None:
        manifest["drift"] = {"status": drift["status"]}
    return manifest

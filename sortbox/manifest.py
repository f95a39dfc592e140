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

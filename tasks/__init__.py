"""Luigi tasks of sortbox: thin wrappers that load a checkpoint, call one sortbox function, save.

Importing this package makes luigi read `config/luigi.cfg` of the repository, so that
`luigi --module workflows.train TrainPipeline` works from the repository root without any
environment variable. When LUIGI_CONFIG_PATH is set, that file wins and ours is not added.
"""
import os
from pathlib import Path

import luigi.configuration

REPO_ROOT = Path(__file__).resolve().parents[1]
PROJECT_CONFIG = REPO_ROOT / "config" / "luigi.cfg"

if not os.environ.get("LUIGI_CONFIG_PATH") and PROJECT_CONFIG.is_file():
    luigi.configuration.add_config_path(str(PROJECT_CONFIG))

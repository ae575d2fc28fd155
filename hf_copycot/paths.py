"""Where hf-copycot keeps what it trains, so the demo, the CLI and the Space agree on one place."""

from __future__ import annotations

import os
from pathlib import Path


def copycot_home() -> Path:
    """`$COPYCOT_HOME` if set, else `./outputs` (relative to the working directory)."""
    return Path(os.environ.get("COPYCOT_HOME", "outputs")).expanduser()


def models_dir() -> Path:
    """Folder of models trained by the demo: `$COPYCOT_HOME/models`, else `./outputs/models`."""
    return copycot_home() / "models"

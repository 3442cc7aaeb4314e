"""Where model files are: a relative path in a config is under the models directory.

The models directory is $HEISENBERG_MODELS, else ./models (what scripts/setup.sh fills).
Pure Python (no rclpy), so every package's core/ can use it.
"""

from __future__ import annotations

import os
from pathlib import Path


def models_dir() -> Path:
    """$HEISENBERG_MODELS, or ./models when it is unset or empty."""
    return Path(os.environ.get('HEISENBERG_MODELS') or 'models').expanduser()


def resolve_model_path(path: str, base: str | Path | None = '') -> Path:
    """Absolute paths (and ~) stay as they are; relative ones are under base, else models_dir().

    base '' or None means models_dir(), read when called (so a changed environment counts).
    """
    candidate = Path(path).expanduser()
    if candidate.is_absolute():
        return candidate
    root = models_dir() if base is None or base == '' else Path(base).expanduser()
    return root / candidate

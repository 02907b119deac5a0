"""Where the benchmarks that need the third-party data sets find them: `$ASSAY_SHARED_DATA`, else
../shared/data beside this checkout (the same rule as the tests' `shared_data_dir`)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def shared_data() -> Path:
    """The data folder, or exit with a message saying how to point at it."""
    sys.path.insert(0, str(ROOT))
    from conftest import shared_data_dir

    path = shared_data_dir()
    if path is None:
        sys.exit("no shared data beside this checkout (set ASSAY_SHARED_DATA)")
    return path

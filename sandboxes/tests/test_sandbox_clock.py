"""A run's time limit counts the time it would take on an idle machine: the real time less the time it
waited for a CPU. So whether a run is within its limit does not depend on the machine's load."""

from __future__ import annotations

from typing import Any

from assay.sandbox import WALL_TIME_STRETCH, Limits
from assay_sandboxes.testing import cpu_hog

BURN = """
import time
started = time.process_time()
while time.process_time() - started < {seconds}:
    pass
print("done")
"""

LIMITS = Limits(wall_time_s=1.0, cpu_time_s=2.0, memory_mb=256)


def test_a_run_within_its_limit_in_cpu_time_passes_however_loaded_the_machine(sandbox: Any) -> None:
    quiet = sandbox.run_python(BURN.format(seconds=0.6), limits=LIMITS)
    with cpu_hog(per_core=3) as hogs:
        loaded = sandbox.run_python(BURN.format(seconds=0.6), limits=LIMITS)
    assert hogs >= 2
    assert (quiet.status, quiet.stdout) == ("ok", b"done\n")
    assert (loaded.status, loaded.stdout) == ("ok", b"done\n")
    # The hog was real: the run waited for a CPU long enough that a plain wall clock would have ended it.
    assert loaded.wall_s > LIMITS.wall_time_s


def test_a_looping_run_gets_its_whole_limit_of_cpu_time_however_loaded_the_machine(sandbox: Any) -> None:
    with cpu_hog():
        result = sandbox.run_python("while True:\n    pass\n", limits=LIMITS)
    assert result.status == "time_limit"
    # Beside the hog a plain wall clock would have given it a fifth of that or less.
    assert 0.4 <= result.cpu_s <= 1.3
    assert result.wall_s <= LIMITS.wall_time_s * WALL_TIME_STRETCH + 1.0


def test_a_sleeping_run_ends_at_its_limit_in_real_time(sandbox: Any) -> None:
    with cpu_hog():
        result = sandbox.run_python("import time\ntime.sleep(30)\n", limits=LIMITS)
    assert result.status == "time_limit"
    assert result.wall_s < 3 * LIMITS.wall_time_s
    assert result.cpu_s < 0.2


def test_a_run_that_competes_with_its_own_processes_has_the_plain_wall_clock(sandbox: Any) -> None:
    # Its main process waits for a CPU because of its own children, not the machine's load: no stretch.
    program = "import os\nfor _ in range(3):\n    if os.fork() == 0:\n        break\nwhile True:\n    pass\n"
    result = sandbox.run_python(program, limits=LIMITS)
    assert result.status == "time_limit"
    assert result.wall_s < LIMITS.wall_time_s + 1.0

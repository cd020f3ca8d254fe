"""``-m`` picks the test lanes by folder (tests/conftest.py marks them)."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def collected(marks: str) -> list[str]:
    """The node ids ``pytest -m marks`` would run over tests/ (collected only)."""
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q",
         "-p", "no:cacheprovider", "-m", marks, "tests"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    return [line for line in run.stdout.splitlines() if "::" in line]


def lane(node_id: str) -> str:
    return node_id.split("/")[1]


def test_not_e2e_leaves_out_the_end_to_end_tests_and_unit_keeps_only_the_unit_tests():
    # Given the suite, when -m "not e2e" picks, I expect every lane but e2e.
    fast = collected("not e2e")
    assert {lane(n) for n in fast} == {"unit", "integration", "faults"}
    # When -m unit picks, I expect exactly the unit tests among those.
    assert sorted(collected("unit")) == sorted(n for n in fast if lane(n) == "unit")

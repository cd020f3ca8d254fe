"""The service's Redis keys are named in one module, in Dramatiq's layout."""

import ast
import pathlib

from infra.keys import Keys

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_every_key_is_under_the_namespace():
    keys = Keys("tenant-a")
    named = [
        keys.command("c"),
        keys.fence("c"),
        keys.idempotency("d"),
        keys.head("s"),
        keys.applied("products"),
        keys.signals,
        keys.outcomes,
        keys.latency,
        keys.lag,
        keys.outbox_lock,
        keys.queue("commands"),
        keys.messages("commands"),
        keys.delayed_messages("commands"),
        keys.dead("commands"),
        keys.acks,
        *(keys.catch_up(part) for part in ("checkpoint", "sweep", "failed", "lock")),
    ]
    assert all(key.startswith("tenant-a:") for key in named)
    assert len(set(named)) == len(named)


def _namespaced_fstrings(path: pathlib.Path) -> list[int]:
    """Lines of f-strings that start with a namespace and a colon."""
    lines = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.JoinedStr) and len(node.values) >= 2:
            first, second = node.values[0], node.values[1]
            prefix = ast.unparse(first.value) if isinstance(first, ast.FormattedValue) else ""
            named = "namespace" in prefix or prefix in ("ns", "self._ns")
            if named and isinstance(second, ast.Constant) and str(second.value).startswith(":"):
                lines.append(node.lineno)
    return lines


def test_no_module_but_keys_spells_a_redis_key():
    found = {}
    for package in ("domain", "web", "workers", "infra"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name != "keys.py" and (lines := _namespaced_fstrings(path)):
                found[str(path.relative_to(ROOT))] = lines
    assert found == {}


def test_the_scan_finds_the_spellings_it_looks_for(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('a = f"{namespace}:x"\nb = f"{self._namespace}:y:{z}"\nc = f"{ns}:q"\nd = f"{x}:no"\n')
    assert _namespaced_fstrings(source) == [1, 2, 3]

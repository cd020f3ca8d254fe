"""The repository's own files, as the deploy tests read them."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
PYTHON = (ROOT / ".python-version").read_text().strip()


def packages() -> set[str]:
    """The top-level packages pyproject.toml ships."""
    return {pattern.rstrip("*") for pattern in PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]}


def procfile() -> dict[str, str]:
    """Process type -> command."""
    return dict(re.findall(r"^([\w-]+):\s*(.*)$", (ROOT / "Procfile").read_text(), re.MULTILINE))

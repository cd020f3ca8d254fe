"""The Procfile's web refuses to serve without tokens, unless told to, and
without a secret of its own to sign cursors with."""

import subprocess

from infra.embedded import free_port
from tests.conftest import isolated_settings
from tests.e2e.conftest import PROCFILE, ROOT, procfile_env, stop


def test_web_refuses_to_start_without_tokens(backends, tmp_path):
    env = procfile_env(isolated_settings(backends, "secure"), free_port())
    env.pop("API_TOKENS", None)
    env["ALLOW_ANONYMOUS"] = ""
    code, log = start_web(env, tmp_path)
    assert code != 0 and "API_TOKENS is empty" in log, log


def test_web_refuses_to_start_without_a_cursor_secret(backends, tmp_path):
    env = procfile_env(isolated_settings(backends, "secure"), free_port())
    env.pop("CURSOR_SECRET", None)
    code, log = start_web(env, tmp_path)
    assert code != 0 and "CURSOR_SECRET is not set" in log, log


def start_web(env, tmp_path) -> tuple[int | None, str]:
    """The Procfile's web started with ``env``: its exit code within a
    minute (None if it went on serving) and what it logged."""
    log = open(tmp_path / "web.log", "wb")
    web = subprocess.Popen(
        ["sh", "-c", PROCFILE["web"]],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        code = web.wait(60)
    except subprocess.TimeoutExpired:
        code = None
    finally:
        stop(web)
        log.close()
    return code, (tmp_path / "web.log").read_text()

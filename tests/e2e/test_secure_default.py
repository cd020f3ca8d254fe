"""The Procfile's web refuses to serve without tokens, unless told to."""

import subprocess

from infra.embedded import free_port
from tests.conftest import isolated_settings
from tests.e2e.conftest import PROCFILE, ROOT, procfile_env, stop


def test_web_refuses_to_start_without_tokens(backends, tmp_path):
    settings = isolated_settings(backends, "secure")
    env = procfile_env(settings, free_port())
    env.pop("API_TOKENS", None)
    env["ALLOW_ANONYMOUS"] = ""
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
    finally:
        stop(web)
        log.close()
    assert code != 0
    assert "API_TOKENS is empty" in (tmp_path / "web.log").read_text()

"""The servers file: the tools find the servers of a running ``make run``
for whichever of REDIS_URL / MONGODB_URI is unset; explicit env wins."""

import json
import stat
import subprocess
import sys

import pytest

from infra import servers
from infra.settings import ConfigurationError

RUN = {"REDIS_URL": "redis://127.0.0.1:7001/0", "MONGODB_URI": "mongodb://127.0.0.1:7002/shop"}


@pytest.fixture
def data_dir(tmp_path):
    return tmp_path / "data"


def publish(data_dir, **extra):
    data_dir.mkdir(exist_ok=True)
    path = servers.servers_file({"DATA_DIR": str(data_dir)})
    servers.publish(path, {**RUN, **extra}, "http://127.0.0.1:8000")
    return path


def test_without_the_servers_and_without_a_run_the_tool_says_how_to_fix_it(data_dir):
    with pytest.raises(ConfigurationError) as refused:
        servers.environ_for_tools({"DATA_DIR": str(data_dir)})
    message = str(refused.value)
    assert "REDIS_URL and MONGODB_URI not set" in message
    assert str(data_dir / "servers.json") in message and "make run" in message
    assert "\n" not in message


def test_the_servers_of_a_running_make_run_are_used_and_named(data_dir):
    publish(data_dir)
    heard = []
    env = servers.environ_for_tools({"DATA_DIR": str(data_dir)}, say=heard.append)
    assert env["REDIS_URL"] == RUN["REDIS_URL"] and env["MONGODB_URI"] == RUN["MONGODB_URI"]
    assert len(heard) == 1 and RUN["REDIS_URL"] in heard[0] and RUN["MONGODB_URI"] in heard[0]


def test_explicit_environment_wins_server_by_server(data_dir):
    publish(data_dir, REDIS_NAMESPACE="run-ns", MONGODB_DATABASE="run_db")
    mine = "redis://cache.example:6379/2"
    heard = []
    env = servers.environ_for_tools({"DATA_DIR": str(data_dir), "REDIS_URL": mine}, say=heard.append)
    assert env["REDIS_URL"] == mine
    # A namespace comes from the file only with its server.
    assert "REDIS_NAMESPACE" not in env
    assert env["MONGODB_URI"] == RUN["MONGODB_URI"] and env["MONGODB_DATABASE"] == "run_db"
    assert "REDIS_URL" not in heard[0]


def test_with_both_servers_set_the_file_is_not_read(data_dir):
    publish(data_dir)
    heard = []
    mine = {"REDIS_URL": "redis://r:1/0", "MONGODB_URI": "mongodb://m:2/x", "DATA_DIR": str(data_dir)}
    assert servers.environ_for_tools(mine, say=heard.append) == mine
    assert heard == []


def test_a_file_left_by_a_run_that_was_killed_is_not_used(data_dir):
    path = publish(data_dir)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait(30)
    path.write_text(json.dumps({**json.loads(path.read_text()), "pid": gone.pid}))
    with pytest.raises(ConfigurationError, match="no running `make run`"):
        servers.environ_for_tools({"DATA_DIR": str(data_dir)})


def test_the_file_is_readable_by_its_owner_only_and_withdrawn(data_dir):
    path = publish(data_dir, REDIS_URL="redis://:s3cret@127.0.0.1:7001/0")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    heard = []
    servers.environ_for_tools({"DATA_DIR": str(data_dir)}, say=heard.append)
    assert "s3cret" not in heard[0] and ":***@127.0.0.1:7001" in heard[0]
    servers.withdraw(path)
    assert not path.exists()
    assert servers.published(path) is None

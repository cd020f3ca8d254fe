"""The servers file: ``make run`` publishes the servers it uses in
``$DATA_DIR/servers.json`` while it serves, and the command-line tools
(``shop rebuild``, ``python -m workers.deadletters``, …) read it for
whichever of ``REDIS_URL`` and ``MONGODB_URI`` is not set, so they reach
a local run without copying URLs.  Explicit environment always wins."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from infra.settings import ConfigurationError, Settings

FILE = "servers.json"
ROOT = Path(__file__).resolve().parent.parent
#: Each server, with the variables that go with it: a namespace or a
#: database is taken from the file only together with its server.
SERVERS = {"REDIS_URL": ("REDIS_NAMESPACE",), "MONGODB_URI": ("MONGODB_DATABASE",)}
WEB_URL = "WEB_URL"


def data_dir(environ: Mapping[str, str] = os.environ) -> Path:
    """``DATA_DIR``, else ``.data`` in the project's folder."""
    return Path(environ.get("DATA_DIR") or ROOT / ".data")


def servers_file(environ: Mapping[str, str] = os.environ) -> Path:
    return data_dir(environ) / FILE


def publish(path: Path, env: Mapping[str, str], web_url: str) -> None:
    """Write the servers of this run (readable by this user only: a URL
    may hold a password), replacing the file in one step."""
    names = [name for server, extra in SERVERS.items() for name in (server, *extra)]
    content = {name: env[name] for name in names if env.get(name)}
    content.update({WEB_URL: web_url, "pid": os.getpid()})
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    with open(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
        json.dump(content, out, indent=2)
    os.replace(partial, path)


def withdraw(path: Path) -> None:
    path.unlink(missing_ok=True)


def published(path: Path) -> dict | None:
    """The file's content, or None when there is none or the run that
    wrote it is gone (killed before it could remove it)."""
    try:
        content = json.loads(path.read_text())
        os.kill(int(content["pid"]), 0)
    except PermissionError:  # alive, under another user
        return content
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return content


def environ_for_tools(
    environ: Mapping[str, str] = os.environ, *, say: Callable[[str], None] | None = None
) -> dict[str, str]:
    """``environ``, with the servers of a running ``make run`` for
    whichever of ``REDIS_URL`` and ``MONGODB_URI`` it lacks; ``say`` hears
    which servers were taken from the file.

    Raises:
      ConfigurationError: a server is neither set nor published.
    """
    env = dict(environ)
    missing = [server for server in SERVERS if not env.get(server)]
    if not missing:
        return env
    path = servers_file(env)
    content = published(path)
    if content is None or any(not content.get(server) for server in missing):
        raise ConfigurationError(
            f"{' and '.join(missing)} not set, and no running `make run` has published its servers "
            f"in {path}: start `make run` (or `shop run`) in another terminal, or set "
            + " and ".join(missing)
        )
    for server in missing:
        for name in (server, *SERVERS[server]):
            if content.get(name) and not env.get(name):
                env[name] = content[name]
    if say is not None:
        used = ", ".join(f"{server}={without_password(env[server])}" for server in missing)
        say(f"using the servers of `make run` (pid {content['pid']}, {path}): {used}")
    return env


def tool_settings(prog: str, environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings for a command-line tool, saying on stderr which servers of
    ``make run`` it uses.

    Raises:
      ConfigurationError: a server is missing, or a variable is malformed.
    """
    return Settings.from_env(
        environ_for_tools(environ, say=lambda text: print(f"{prog}: {text}", file=sys.stderr, flush=True))
    )


def without_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def environment_help(*extra: tuple[str, str]) -> str:
    """The ``environment:`` part of a tool's ``--help``: the servers, and
    ``extra`` (name, meaning) pairs."""
    rows = [
        ("MONGODB_URI", "MongoDB; its path names the database (else shop)"),
        ("REDIS_URL", "Redis"),
        ("", "either one unset: that of a running `make run`, read from"),
        ("", "$DATA_DIR/servers.json (DATA_DIR defaults to .data)"),
        ("MONGODB_DATABASE", "overrides the database name"),
        ("REDIS_NAMESPACE", "prefix of the service's Redis keys (default shop)"),
        *extra,
    ]
    return "environment:\n" + "\n".join(f"  {name:<18}{meaning}".rstrip() for name, meaning in rows)

"""A ``redis-server`` that speaks only TLS, with a throwaway certificate
whose chain ends in a self-signed authority no system trusts: what a
platform's managed Redis looks like to the service."""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
import trustme

from infra.embedded import Server, free_port


class TLSUnavailable(RuntimeError):
    """No ``redis-server`` with TLS here: the tests that need one skip."""


@dataclass(frozen=True)
class TLSRedis:
    server: Server
    #: ``rediss://127.0.0.1:PORT/0``
    url: str
    #: PEM of the authority that signed the server's certificate.
    ca_file: Path


def start_tls_redis(folder: Path, timeout: float = 15.0) -> TLSRedis:
    """Start it, bound to 127.0.0.1 on a free port, TLS only (no plain port).

    Raises:
      TLSUnavailable: no ``redis-server`` on PATH, or one built without TLS.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise TLSUnavailable("no redis-server on PATH (Debian's redis-server package has TLS)")
    folder.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "localhost")
    key, chain, ca_file = folder / "server.key", folder / "server.pem", folder / "ca.pem"
    issued.private_key_pem.write_to_path(str(key))
    # The leaf, then the self-signed root, as a platform's server sends them.
    chain.write_bytes(b"".join(pem.bytes() for pem in (*issued.cert_chain_pems, authority.cert_pem)))
    authority.cert_pem.write_to_path(str(ca_file))
    port = free_port()
    argv = [
        binary,
        "--port", "0",
        "--tls-port", str(port),
        "--bind", "127.0.0.1",
        "--tls-cert-file", str(chain),
        "--tls-key-file", str(key),
        "--tls-ca-cert-file", str(ca_file),
        "--tls-auth-clients", "no",
        "--dir", str(folder.resolve()),
        "--save", "",
        "--appendonly", "no",
        "--daemonize", "no",
    ]  # fmt: skip
    log_path = folder / "redis.log"
    log = open(log_path, "ab")
    process = subprocess.Popen(
        argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True
    )
    server = Server("redis-tls", f"rediss://127.0.0.1:{port}/0", process, log_path, log)
    _wait_for(server, ca_file, timeout)
    return TLSRedis(server, server.url, ca_file)


def _wait_for(server: Server, ca_file: Path, timeout: float) -> None:
    client = redis.Redis.from_url(server.url, ssl_ca_certs=str(ca_file), socket_connect_timeout=0.5)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if server.process.poll() is not None:
                said = server.log_path.read_text(errors="replace")
                server.stop()
                if "tls" in said.lower():
                    raise TLSUnavailable(f"redis-server refused its TLS options: {said.strip()[-300:]}")
                raise RuntimeError(f"redis-server exited with {server.process.returncode}: {said[-2000:]}")
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        server.stop()
        raise RuntimeError(f"redis-server with TLS did not answer within {timeout:.0f} s")
    finally:
        client.close()

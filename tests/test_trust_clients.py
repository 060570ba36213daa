"""The two profiles are what real clients do: a TLS server on 127.0.0.1 sends
a chain that ends at a legacy root (basicConstraints not critical, no
keyUsage, no key identifiers); Python 3.11's ssl (OpenSSL's default flags)
completes the handshake, Python 3.13's (X509_STRICT | PARTIAL_CHAIN) refuses
it, and `ats verify --chain` gives those two verdicts for the same chain."""

from __future__ import annotations

import dataclasses
import datetime
import os
import socket
import ssl
import subprocess
import sys
import threading

import pytest
import trust_pki
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from ats_roots.trust import chain as trust_chain

PY313 = "/root/.pyenv/versions/3.13.0/bin/python3"
HOST = "www.example.com"
CLIENT = """
import socket, ssl, sys
ctx = ssl.create_default_context(cafile=sys.argv[1])
try:
    with socket.create_connection(("127.0.0.1", int(sys.argv[2])), timeout=10) as s:
        with ctx.wrap_socket(s, server_hostname=sys.argv[3]):
            print("ok")
except ssl.SSLCertVerificationError as exc:
    print("refused:", exc.verify_message)
"""


def serve_once(certfile, keyfile):
    """A TLS server for a few handshakes; returns (port, stop)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certfile, keyfile)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    stop = threading.Event()

    def loop():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with ctx.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                pass  # the client refused the chain: that is the point

    threading.Thread(target=loop, daemon=True).start()
    return listener.getsockname()[1], lambda: (stop.set(), listener.close())


def test_python_311_and_313_decide_as_the_two_profiles(tmp_path):
    if not os.path.exists(PY313):
        if os.environ.get("ATS_REQUIRE_OLD_PYTHON") == "1":
            pytest.fail(f"{PY313} is required (ATS_REQUIRE_OLD_PYTHON=1)")
        pytest.skip(f"no {PY313}")
    now = datetime.datetime.now(datetime.timezone.utc)
    valid = dict(not_before=now - 10 * trust_pki.DAY, not_after=now + 30 * trust_pki.DAY)
    ca_valid = dict(not_before=now - 100 * trust_pki.DAY, not_after=now + 900 * trust_pki.DAY)
    legacy_spec = dataclasses.replace(trust_pki.LEGACY, **ca_valid)
    legacy = trust_pki.make("Client Legacy Root", trust_pki.key("rsa", 50), legacy_spec)
    inter = trust_pki.make(
        "Client Inter", trust_pki.key("rsa", 51), trust_pki.Spec(path_length=0, **ca_valid), legacy
    )
    leaf = trust_pki.make(
        "Client Leaf", trust_pki.key("p256", 52), trust_pki.leaf_spec(HOST, **valid), inter
    )
    (tmp_path / "chain.pem").write_bytes(leaf.pem + inter.pem)
    (tmp_path / "key.pem").write_bytes(
        leaf.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    )
    (tmp_path / "root.pem").write_bytes(legacy.pem)
    modern = trust_pki.make(
        "Client Modern Root", trust_pki.key("rsa", 53), trust_pki.Spec(**ca_valid)
    )
    (tmp_path / "modern.pem").write_bytes(modern.pem)

    port, stop = serve_once(str(tmp_path / "chain.pem"), str(tmp_path / "key.pem"))
    try:

        def client(python, cafile):
            proc = subprocess.run(
                [python, "-c", CLIENT, str(tmp_path / cafile), str(port), HOST],
                capture_output=True,
                text=True,
                timeout=60,
                env={"PATH": "/usr/bin:/bin"},
            )
            assert proc.returncode == 0, proc.stderr
            return proc.stdout.strip()

        assert client(sys.executable, "root.pem") == "ok"  # Python 3.11: OpenSSL default
        refused = client(PY313, "root.pem")
        assert refused == "refused: Basic Constraints of CA cert not marked critical", refused
        assert client(sys.executable, "modern.pem").startswith("refused:")  # control
    finally:
        stop()

    result = trust_chain.check_chain([leaf.der, inter.der], [legacy.der], now, HOST)
    assert result.profiles["default"].ok
    strict = result.profiles["strict"]
    assert not strict.ok and strict.error == "Basic Constraints of CA cert not marked critical"
    assert not strict.partial_only  # Python 3.13 also sets PARTIAL_CHAIN: still refused
    assert result.weaknesses and result.weaknesses[0].startswith("anchor Client Legacy Root: ")

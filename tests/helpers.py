"""Plain helpers for the core tests: running `ats`, digests of trees, small
synthetic roots, certificates made on the spot, a local HTTPS server."""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import http.server
import os
import re
import runpy
import shutil
import ssl
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "ats-public"
DATA = REPO / "src" / "ats_roots" / "trust" / "data"
ROOT_FILES = (
    "AmazonRootCA1.pem",
    "AmazonRootCA2.pem",
    "AmazonRootCA3.pem",
    "AmazonRootCA4.pem",
    "SFSRootCAG2.pem",
)
# 2025-02-23T09:42:16Z: inside the demo leaves' validity (2025-02-22..2025-04-30).
LEAF_TIME = 1740304936
AFTER_LEAVES = 1746100000  # 2025-05-01, a day after they expired
INTERMEDIATES = tuple(f"{k}m0{i}" for k in ("r2", "r4", "e2", "e3") for i in (1, 2, 3, 4))


# The five roots as ca-certificates.conf names them (Debian and Alpine alike).
AMAZON_CONF = (
    "mozilla/Amazon_Root_CA_1.crt",
    "mozilla/Amazon_Root_CA_2.crt",
    "mozilla/Amazon_Root_CA_3.crt",
    "mozilla/Amazon_Root_CA_4.crt",
    "mozilla/Starfield_Services_Root_Certificate_Authority_-_G2.crt",
)


HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"


def gen_hook() -> dict:
    """scripts/gen-hook's functions (pack, unpack, render), loaded as a module."""
    return runpy.run_path(str(REPO / "scripts" / "gen-hook"), run_name="gen_hook")


def hook_edited(old: str, new: str) -> str:
    """The one-file hook with old replaced by new in its readable form (a part's
    source included: it is unpacked, edited and packed again); old must occur once."""
    gen = gen_hook()
    text = gen["unpack"](HOOK.read_text())
    assert text.count(old) == 1, f"{old!r}: not once in the hook; update the caller"
    return gen["pack"](text.replace(old, new))


def deselect_amazon(root: Path, *tool_args: str) -> None:
    """Remove the five roots the distribution's own way: deselect them in
    /etc/ca-certificates.conf and run update-ca-certificates (Debian wants
    --fresh, so that their links go too)."""
    conf = root / "etc" / "ca-certificates.conf"
    text = conf.read_text()
    for name in AMAZON_CONF:
        assert f"\n{name}\n" in text, name
        text = text.replace(f"\n{name}\n", f"\n!{name}\n")
    conf.write_text(text)
    chroot(root, "update-ca-certificates", *tool_args, check=True)


def need(ok: bool, reason: str, kind: str) -> None:
    """The one way a test may skip for a missing prerequisite: it skips on a
    developer's machine, and fails where ATS_REQUIRE_<kind>=1 (CI sets every
    kind: DOCKER, ROOTFS, OLD_PYTHON, TOOLS), so CI cannot go green without
    running it. kind: DOCKER (the engine, built images), ROOTFS (root and real
    root file systems), TOOLS (host tools: openssl, java, keytool, ...)."""
    if ok:
        return
    if os.environ.get(f"ATS_REQUIRE_{kind}") == "1":
        pytest.fail(f"ATS_REQUIRE_{kind}=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def docker_engine(*images: str, timeout: int = 600, hint: str = "scripts/build-bases"):
    """A Docker SDK client with IMAGES present, else need()'s skip (a failure
    under ATS_REQUIRE_DOCKER=1): no SDK, no socket, no daemon, no image."""
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # no SDK, no socket, no daemon: all mean no Docker here
        need(False, f"no Docker Engine: {exc}", "DOCKER")
    for image in images:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            need(False, f"{image} missing: run {hint}", "DOCKER")
    return client


def require(ok: bool, reason: str) -> None:
    """A root file system test's prerequisite (ATS_REQUIRE_ROOTFS)."""
    need(ok, reason, "ROOTFS")


def require_root(*tools: str) -> None:
    require(os.geteuid() == 0, "needs root (chroot, tar with owners, mounts)")
    for tool in tools:
        require(shutil.which(tool) is not None, f"needs {tool} on the host")


def ats(*args, user: str | None = None, env=None, timeout=120) -> subprocess.CompletedProcess:
    """The real CLI in a new process; user 'nobody' runs it unprivileged."""
    argv = [sys.executable, "-m", "ats_roots", *map(str, args)]
    if user:
        argv = ["setpriv", "--reuid", user, "--regid", user, "--clear-groups", *argv]
    return subprocess.run(
        argv, capture_output=True, text=True, env=env, timeout=timeout, check=False
    )


def one_error_line(proc: subprocess.CompletedProcess) -> str:
    """stderr must be exactly one line, starting 'ats: error: '."""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("ats: error: "), proc.stderr
    return lines[0]


def tree_digest(root) -> dict[str, tuple]:
    """Every entry under root: type, mode, owner and content (or link target)."""
    out = {}
    root = str(root)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            meta = (stat.S_IFMT(st.st_mode), stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                body = os.readlink(path)
            elif stat.S_ISREG(st.st_mode):
                with open(path, "rb") as f:
                    body = hashlib.sha256(f.read()).hexdigest()
            else:
                body = None
            out[os.path.relpath(path, root)] = (*meta, body)
    return out


def pem_shas(data: bytes) -> list[str]:
    """SHA-256 of each certificate in PEM data, in order (duplicates kept)."""
    blocks = re.findall(rb"-----BEGIN CERTIFICATE-----(.*?)-----END CERTIFICATE-----", data, re.S)
    return [hashlib.sha256(base64.b64decode(b"".join(b.split()))).hexdigest() for b in blocks]


def pinned_shas() -> list[str]:
    return [pem_shas((DATA / f).read_bytes())[0] for f in ROOT_FILES]


def without_blocks(data: bytes, shas) -> bytes:
    """PEM data less the blocks with these fingerprints (every other byte kept)."""
    for block in re.findall(
        rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----\n?", data, re.S
    ):
        if pem_shas(block)[0] in shas:
            data = data.replace(block, b"", 1)
    return data


def leaf_and_issuer(n: int, kind: str = "valid") -> tuple[Path, Path]:
    """A demo leaf and the intermediate that signed it (found by name, not assumed)."""
    leaf = FIXTURES / f"{kind}.rootca{n}.demo.amazontrust.com.pem"
    issuer = subject_line(leaf, "-issuer")
    for name in INTERMEDIATES:
        if subject_line(FIXTURES / f"{name}.pem", "-subject") == issuer:
            return leaf, FIXTURES / f"{name}.pem"
    raise AssertionError(f"no intermediate for {leaf.name}")


def subject_line(path: Path, which: str) -> str:
    out = subprocess.run(
        ["openssl", "x509", "-noout", which, "-nameopt", "RFC2253", "-in", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return out.split("=", 1)[1].strip()


def synthetic_root(path: Path, os_release: str | None, tools=(), files=None) -> Path:
    """A directory laid out like a root: os-release, executable tool stubs
    (they only have to exist: plans never run them), and any files."""
    path.mkdir(parents=True, exist_ok=True)
    if os_release is not None:
        (path / "etc").mkdir(exist_ok=True)
        (path / "etc" / "os-release").write_text(os_release)
    for tool in tools:
        host = path / tool.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_text("#!/bin/sh\nexit 0\n")
        host.chmod(0o755)
    for inner, data in (files or {}).items():
        host = path / inner.lstrip("/")
        host.parent.mkdir(parents=True, exist_ok=True)
        host.write_bytes(data if isinstance(data, bytes) else data.encode())
    return path


def make_ca(
    path: Path, *, ca: bool = True, expired: bool = False, name: str = "ats test CA"
) -> Path:
    """A self-signed certificate written as PEM; expired: not_after in the past."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    start, end = (
        (now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        if expired
        else (now - datetime.timedelta(days=1), now + datetime.timedelta(days=365))
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


@contextlib.contextmanager
def https_server(directory: Path, cert_pem: Path, key_pem: Path):
    """Serve directory over HTTPS on 127.0.0.1; yields the base URL."""

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):
            super().__init__(*a, directory=str(directory), **kw)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert_pem), str(key_pem))
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def openssl_verify(cafile, untrusted, leaf, *flags, at=None, purpose=None):
    """The host's `openssl verify` with nothing trusted but CAFILE (no default
    file, directory or store), UNTRUSTED as intermediates, at time AT (epoch
    seconds), for PURPOSE (e.g. "sslserver") when given."""
    argv = ["openssl", "verify", "-no-CAfile", "-no-CApath", "-no-CAstore", *flags]
    argv += ["-CAfile", str(cafile), "-untrusted", str(untrusted)]
    argv += ["-attime", str(at)] if at is not None else []
    argv += ["-purpose", purpose] if purpose else []
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}
    return subprocess.run([*argv, str(leaf)], capture_output=True, text=True, env=env, timeout=30)


def chroot(root, *argv, check=False) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chroot", str(root), *map(str, argv)],
        capture_output=True,
        text=True,
        check=check,
        env={"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C"},
    )

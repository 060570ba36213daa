"""Test helpers for SES over TLS: a PKI shaped like Amazon's, and the stand-in on the host.

The chain copies the real one's shape: a self-signed root (what `ats install
--extra-ca` is given), one RSA intermediate with pathlen 0 (served by the
server, never installed), and an RSA leaf naming the SES endpoints of each
region.  trustme makes the keys; its CA() constructor is used directly for the
intermediate because create_child_ca() gives random names, and readable names
are what make the probe's output checkable.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import select
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import trustme

ORG = "ATS Test PKI"
ROOT_NAME = "ATS Test Root CA"
INTERMEDIATE_NAME = "ATS Test RSA 2048 M01"
REPO = Path(__file__).resolve().parent.parent
SERVER = REPO / "images" / "ses-standin" / "server.py"
# Every port the stand-in serves, in the probe's order.
SES_PORTS = (25, 587, 2587, 465, 2465, 443)


def ses_names(regions) -> list[str]:
    """The host names the leaf covers: SMTP and API endpoint per region."""
    names = []
    for region in regions:
        names += [f"email-smtp.{region}.amazonaws.com", f"email.{region}.amazonaws.com"]
    return names


@dataclass(frozen=True)
class SesPki:
    dir: Path
    root: Path  # the test root: what --extra-ca / --cafile get
    intermediate: Path
    leaf: Path
    chain: Path  # leaf + intermediate: what the server presents
    key: Path  # the leaf's key
    names: tuple[str, ...]


def make_ses_pki(directory, regions=("us-east-1", "eu-west-1")) -> SesPki:
    """Write root.pem, intermediate.pem, leaf.pem, chain.pem, key.pem into directory."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    rsa = trustme.KeyType.RSA
    root = trustme.CA(organization_name=ORG, organization_unit_name=ROOT_NAME, key_type=rsa)
    inter = trustme.CA(
        parent_cert=root,
        path_length=0,
        organization_name=ORG,
        organization_unit_name=INTERMEDIATE_NAME,
        key_type=rsa,
    )
    names = ses_names(regions)
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    leaf = inter.issue_cert(
        *names,
        common_name=names[0],
        organization_name=ORG,
        organization_unit_name="SES stand-in",
        not_before=now - datetime.timedelta(days=1),
        not_after=now + datetime.timedelta(days=395),
        key_type=rsa,
    )
    leaf_pem, inter_pem = (b.bytes() for b in leaf.cert_chain_pems)
    files = {
        "root.pem": root.cert_pem.bytes(),
        "intermediate.pem": inter_pem,
        "leaf.pem": leaf_pem,
        "chain.pem": leaf_pem + inter_pem,
        "key.pem": leaf.private_key_pem.bytes(),
    }
    for name, data in files.items():
        (d / name).write_bytes(data)
        # Readable by the container's unprivileged user; a test key is no secret.
        os.chmod(d / name, 0o644)
    return SesPki(
        dir=d,
        root=d / "root.pem",
        intermediate=d / "intermediate.pem",
        leaf=d / "leaf.pem",
        chain=d / "chain.pem",
        key=d / "key.pem",
        names=tuple(names),
    )


@contextlib.contextmanager
def run_standin(pki: SesPki, spool, env=None, timeout=20.0):
    """Run images/ses-standin/server.py on 127.0.0.1, every SES port on a free
    high port; yield {service port: local port}.  Stopped on exit."""
    spec = ",".join(f"{p}=0" for p in SES_PORTS)
    cmd = [sys.executable, str(SERVER), "--host", "127.0.0.1", "--pki", str(pki.dir)]
    cmd += ["--spool", str(spool), "--ports", spec]
    proc = subprocess.Popen(
        cmd,
        stdout=subprocess.PIPE,
        env={**os.environ, **(env or {})},
        text=True,
    )
    try:
        yield _wait_ready(proc, timeout)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        proc.stdout.close()


def _wait_ready(proc: subprocess.Popen, timeout: float) -> dict[int, int]:
    """The server prints `ready {json}` once every port listens."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"stand-in exited with {proc.returncode} before ready")
        readable, _, _ = select.select([proc.stdout], [], [], 0.2)
        if readable:
            line = proc.stdout.readline()
            if line.startswith("ready "):
                return {int(k): v for k, v in json.loads(line[6:])["ports"].items()}
    raise RuntimeError("stand-in not ready in time")


def port_spec(ports: dict[int, int], only=None) -> str:
    """The probe's --ports value mapping each service port to its local port."""
    return ",".join(f"{s}={ports[s]}" for s in (only or ports))


def resolve_args(regions=("us-east-1",), addr="127.0.0.1") -> list[str]:
    out = []
    for name in ses_names(regions):
        out += ["--resolve", f"{name}:{addr}"]
    return out

"""The differential test: every generated chain (tests/trust_pki.py) and every
public fixture chain is checked by ats (trust.chain.check_chain, what
`ats verify --chain` prints) and by the `openssl verify` CLI with the same
inputs, with OpenSSL's default flags and again with -x509_strict (both with
-attime, -verify_hostname, -purpose sslserver). ats must agree with both on
every chain; the test prints the count and every disagreement."""

from __future__ import annotations

import concurrent.futures
import datetime
import ipaddress
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import trust_pki
from helpers import AFTER_LEAVES, FIXTURES, LEAF_TIME

from ats_roots import _portable
from ats_roots.trust import chain as trust_chain

LEGACY = Path(__file__).resolve().parent / "fixtures" / "legacy"
ENV = {"PATH": "/usr/bin:/bin", "LC_ALL": "C"}


def openssl_ok(tmp: Path, chain, anchors, at, host, strict: bool) -> bool:
    """`openssl verify`'s verdict, nothing but the given anchors trusted."""
    (tmp / "leaf.pem").write_bytes(pem(chain[:1]))
    argv = ["openssl", "verify", "-no-CAfile", "-no-CApath", "-no-CAstore"]
    if anchors:
        (tmp / "anchors.pem").write_bytes(pem(anchors))
        argv += ["-CAfile", str(tmp / "anchors.pem")]
    if chain[1:]:
        (tmp / "untrusted.pem").write_bytes(pem(chain[1:]))
        argv += ["-untrusted", str(tmp / "untrusted.pem")]
    argv += ["-attime", str(int(at.timestamp())), "-purpose", "sslserver"]
    argv += [_host_flag(host), host] + (["-x509_strict"] if strict else [])
    proc = subprocess.run(
        [*argv, str(tmp / "leaf.pem")], capture_output=True, text=True, env=ENV, timeout=30
    )
    return proc.returncode == 0 and proc.stdout.rstrip().endswith(": OK")


def _host_flag(host: str) -> str:
    """-verify_ip for an address, as TLS clients match one; else -verify_hostname."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return "-verify_hostname"
    return "-verify_ip"


def pem(ders) -> bytes:
    import base64

    out = b""
    for der in ders:
        b64 = base64.encodebytes(der).replace(b"\n", b"")
        lines = b"\n".join(b64[i : i + 64] for i in range(0, len(b64), 64))
        out += b"-----BEGIN CERTIFICATE-----\n" + lines + b"\n-----END CERTIFICATE-----\n"
    return out


def ders_of(path: Path) -> list[bytes]:
    return [der for _, der in _portable.pem_blocks(path.read_bytes())]


def public_cases():
    """Every public fixture leaf with its issuer: against the five roots, at
    the demo leaves' time and after; plus the cross-signed paths to Starfield."""
    roots = [
        d
        for n in ("AmazonRootCA1", "AmazonRootCA2", "AmazonRootCA3", "AmazonRootCA4", "SFSRootCAG2")
        for d in ders_of(FIXTURES / f"{n}.pem")
    ]
    issuers = {1: "r2m03", 2: "r4m02", 3: "e2m03", 4: "e3m02"}
    sfs = ders_of(FIXTURES / "SFSRootCAG2.pem")
    class2 = ders_of(LEGACY / "StarfieldClass2CA.pem")
    sfs_cross = ders_of(LEGACY / "SFSRootCAG2-by-StarfieldClass2.pem")
    out = []
    for n, issuer in issuers.items():
        cross = ders_of(FIXTURES / f"rootca{n}.pem")
        for kind in ("valid", "expired", "revoked"):
            host = f"{kind}.rootca{n}.demo.amazontrust.com"
            leaf = ders_of(FIXTURES / f"{host}.pem") + ders_of(FIXTURES / f"{issuer}.pem")
            for t in (LEAF_TIME, AFTER_LEAVES, 1710417600):  # 1710417600: 2024-03-14 12:00
                at = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
                out.append((f"public {host} @{t}", leaf, roots, at, host))
                out.append((f"public {host} via SFS G2 @{t}", leaf + cross, sfs, at, host))
                out.append(
                    (
                        f"public {host} via Starfield Class 2 @{t}",
                        leaf + cross + sfs_cross,
                        class2,
                        at,
                        host,
                    )
                )
            out.append((f"public {host} no anchor", leaf, [], at, host))
            out.append((f"public {host} wrong host", leaf, roots, at, "example.com"))
    return out


@pytest.fixture(scope="module")
def all_cases():
    return trust_pki.cases() + public_cases()


def test_ats_agrees_with_openssl_verify(all_cases, tmp_path, capsys):
    assert shutil.which("openssl"), "openssl is needed: it is the reference"
    disagreements, seen = [], {"default": [0, 0], "strict": [0, 0]}

    def reference(index):  # both openssl verdicts of one case, in its own directory
        name, chain, anchors, at, host = all_cases[index]
        tmp = tmp_path / str(index)
        tmp.mkdir()
        return [openssl_ok(tmp, chain, anchors, at, host, strict) for strict in (False, True)]

    # The openssl processes dominate the run time: run a few at once.
    with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
        theirs_all = list(pool.map(reference, range(len(all_cases))))
    for (name, chain, anchors, at, host), both in zip(all_cases, theirs_all):
        result = trust_chain.check_chain(chain, anchors, at, host)
        assert not result.fallback, result.engine  # a verdict that is not OpenSSL's proves nothing
        for profile, theirs in zip(("default", "strict"), both):
            ours = result.profiles[profile].ok
            seen[profile][theirs] += 1
            if ours != theirs:
                disagreements.append(
                    f"{name} [{profile}]: ats {'OK' if ours else 'FAILED'} "
                    f"({result.profiles[profile].error}), openssl {'OK' if theirs else 'FAILED'}"
                )
    with capsys.disabled():
        print(
            f"\ndifferential: {len(all_cases)} chains, {2 * len(all_cases)} verdicts; "
            f"openssl default {seen['default'][1]} ok / {seen['default'][0]} failed, "
            f"strict {seen['strict'][1]} ok / {seen['strict'][0]} failed; "
            f"{len(disagreements)} disagreements"
        )
        for line in disagreements:
            print("  DISAGREE " + line)
    assert len(all_cases) >= 300
    # Both verdicts occur under both profiles, and the profiles differ somewhere:
    # a test where everything passes (or fails) would prove nothing.
    assert min(seen["default"] + seen["strict"]) > 20, seen
    assert seen["default"] != seen["strict"]
    assert not disagreements, "\n".join(disagreements)


def test_a_changed_input_changes_the_verdict(all_cases, tmp_path):
    """Negative control for the comparison itself: the same chain at a time
    after the leaf expired fails for both, so agreement is not vacuous."""
    name, chain, anchors, at, host = next(c for c in all_cases if c[0].endswith("good"))
    late = at + datetime.timedelta(days=400)
    assert trust_chain.check_chain(chain, anchors, at, host).ok
    assert openssl_ok(tmp_path, chain, anchors, at, host, strict=False)
    assert not trust_chain.check_chain(chain, anchors, late, host).ok
    assert not openssl_ok(tmp_path, chain, anchors, late, host, strict=False)


def test_cli_matches_function(tmp_path, all_cases):
    """A sample through the real `ats verify --chain` CLI gives the function's verdict."""
    from helpers import ats

    picks = [c for c in all_cases if c[0].startswith("rsa/p256 ")][:6]
    for name, chain, anchors, at, host in picks:
        (tmp_path / "c.pem").write_bytes(pem(chain))
        (tmp_path / "b.pem").write_bytes(pem(anchors or chain[-1:]))
        want = trust_chain.check_chain(chain, anchors or chain[-1:], at, host).ok
        proc = ats(
            "verify",
            "--bundle",
            tmp_path / "b.pem",
            "--chain",
            tmp_path / "c.pem",
            "--at",
            str(int(at.timestamp())),
            "--host",
            host,
        )
        line = next(x for x in proc.stdout.splitlines() if x.startswith("chain "))
        assert line.startswith("chain ok" if want else "chain FAILED"), (name, proc.stdout)


if os.environ.get("ATS_TRUST_DIFF_DUMP"):  # for humans: ATS_TRUST_DIFF_DUMP=1 pytest -s

    def test_dump(all_cases):
        for name, *_ in all_cases:
            print(name)

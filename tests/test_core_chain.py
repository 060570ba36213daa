"""`ats verify --bundle ... --chain`: cryptography's verifier finds the path
from a recorded chain to an anchor in the store, at a pinned time."""

from __future__ import annotations

from helpers import AFTER_LEAVES, DATA, FIXTURES, LEAF_TIME, ats, leaf_and_issuer


def bundle_of(tmp_path, *names):
    path = tmp_path / "bundle.pem"
    path.write_bytes(b"".join((DATA / n).read_bytes() for n in names))
    return path


def chain_of(tmp_path, *paths):
    path = tmp_path / "chain.pem"
    path.write_bytes(b"".join(p.read_bytes() for p in paths))
    return path


def verify(bundle, chain, *more):
    return ats("verify", "--bundle", bundle, "--chain", chain, *more)


def test_leaf_to_root(tmp_path):
    every = bundle_of(
        tmp_path,
        "AmazonRootCA1.pem",
        "AmazonRootCA2.pem",
        "AmazonRootCA3.pem",
        "AmazonRootCA4.pem",
        "SFSRootCAG2.pem",
    )
    for n in (1, 2, 3, 4):
        leaf, issuer = leaf_and_issuer(n)
        chain = chain_of(tmp_path, leaf, issuer)
        proc = verify(every, chain, "--at", LEAF_TIME)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert f"<- CN=Amazon Root CA {n},O=Amazon,C=US" in proc.stdout
        late = verify(every, chain, "--at", AFTER_LEAVES)
        assert late.returncode == 1 and "certificate has expired" in late.stdout  # OpenSSL's words
        wrong = verify(every, chain, "--at", LEAF_TIME, "--host", "example.com")
        assert wrong.returncode == 1 and "chain FAILED for example.com" in wrong.stdout


def test_cross_signed_path_to_starfield(tmp_path):
    """With only the Starfield root in the store, the chain that carries the
    cross-signed Amazon Root CA 1 ends at Starfield; without it, no path."""
    leaf, issuer = leaf_and_issuer(1)
    sfs_only = bundle_of(tmp_path, "SFSRootCAG2.pem")
    cross = chain_of(tmp_path, leaf, issuer, FIXTURES / "rootca1.pem")
    proc = verify(sfs_only, cross, "--at", LEAF_TIME)
    # The bundle lacks four roots, so the report as a whole fails; the chain passes.
    assert "chain ok for valid.rootca1.demo.amazontrust.com" in proc.stdout, proc.stdout
    line = next(x for x in proc.stdout.splitlines() if x.startswith("chain ok"))
    assert line.endswith(
        "<- CN=Starfield Services Root Certificate Authority - G2,O=Starfield Tec"
        "hnologies\\, Inc.,L=Scottsdale,ST=Arizona,C=US"
    ), line
    short = chain_of(tmp_path, leaf, issuer)
    proc = verify(sfs_only, short, "--at", LEAF_TIME)
    assert proc.returncode == 1 and "chain FAILED" in proc.stdout


def test_expired_leaf(tmp_path):
    every = bundle_of(tmp_path, "AmazonRootCA1.pem")
    leaf, issuer = leaf_and_issuer(1, "expired")
    chain = chain_of(tmp_path, leaf, issuer)
    proc = ats("verify", "--bundle", every, "--chain", chain, "--at", LEAF_TIME, "--json")
    assert proc.returncode == 1
    assert '"ok": false' in proc.stdout
    # Positive control: in its two days of life the same chain verifies.
    proc = ats("verify", "--bundle", every, "--chain", chain, "--at", "2024-03-14T12:00:00Z")
    assert "chain ok for expired.rootca1.demo.amazontrust.com" in proc.stdout

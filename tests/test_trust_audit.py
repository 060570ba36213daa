"""Recognition by key and the calendar in `ats audit` and `ats verify`:
a store with only the cross-signed Amazon Root CA 1 is missing it (with the
partial-chain note); a store that depends on Starfield Services G2 near its
distrust date is `expiring`; stores of other self-signed certificates of a
pinned key count (tests' own keys, pins passed in)."""

from __future__ import annotations

import datetime
import json
import os

import audit_plants as plants
import pytest
import trust_pki
from helpers import FIXTURES, ats

from ats_roots import _portable
from ats_roots.audit import audit_root
from ats_roots.audit.model import MISSING, OK
from ats_roots.system import view as store_view
from ats_roots.trust import keys
from ats_roots.trust.roots import KeyPin

UTC = datetime.timezone.utc
AMAZON = ["AmazonRootCA1", "AmazonRootCA2", "AmazonRootCA3", "AmazonRootCA4"]


@pytest.fixture(scope="module")
def cas():
    return plants.test_cas(12)


def root_with(tmp_path, cas, pem_names) -> str:
    """A Debian-shaped root whose system bundle holds 12 test CAs and the named fixtures."""
    root = tmp_path / "root"
    bundle = plants.pem_bundle(cas) + b"".join(
        (FIXTURES / f"{n}.pem").read_bytes() for n in pem_names
    )
    for inner, data in {
        "etc/os-release": b'ID=debian\nVERSION_ID="12"\n',
        "etc/ssl/certs/ca-certificates.crt": bundle,
    }.items():
        (root / inner).parent.mkdir(parents=True, exist_ok=True)
        (root / inner).write_bytes(data)
    (root / "usr/lib/ssl").mkdir(parents=True)
    os.symlink("/etc/ssl/certs/ca-certificates.crt", root / "usr/lib/ssl/cert.pem")
    os.symlink("/etc/ssl/certs", root / "usr/lib/ssl/certs")
    for n in pem_names:  # the hashed directory holds the same ATS certificates
        pem = (FIXTURES / f"{n}.pem").read_bytes()
        (root / f"etc/ssl/certs/{n}.pem").write_bytes(pem)
        link = _portable.subject_hash(_portable.pem_blocks(pem)[0][1])
        index = 0
        while os.path.lexists(root / f"etc/ssl/certs/{link}.{index}"):
            index += 1
        os.symlink(f"{n}.pem", root / f"etc/ssl/certs/{link}.{index}")
    return str(root)


def system_store(report):
    return next(s for s in report.stores if s.path == "/etc/ssl/certs/ca-certificates.crt")


def test_only_the_cross_signed_root_ca_1(tmp_path, cas):
    root = root_with(
        tmp_path, cas, ["rootca1", "AmazonRootCA2", "AmazonRootCA3", "AmazonRootCA4", "SFSRootCAG2"]
    )
    store = system_store(audit_root(root, None))
    assert store.ats() == [False, True, True, True, True]
    assert store.verdict == MISSING
    (note,) = store.key_notes()
    assert note.startswith("Amazon Root CA 1: only a cross-signed copy") and "partial" in note
    hashed = next(s for s in audit_root(root, None).stores if s.path == "/etc/ssl/certs")
    assert hashed.ats() == [False, True, True, True, True], hashed.key_notes()
    assert hashed.key_notes() == [note]
    proc = ats("audit", "--root", root)
    assert proc.stdout.count("Amazon Root CA 1: only a cross-signed copy of its key") == 2, (
        proc.stdout
    )
    # positive control: with the self-signed root beside it the store is complete
    ok_root = root_with(
        tmp_path / "ok",
        cas,
        [
            "AmazonRootCA1",
            "rootca1",
            "AmazonRootCA2",
            "AmazonRootCA3",
            "AmazonRootCA4",
            "SFSRootCAG2",
        ],
    )
    assert system_store(audit_root(ok_root, None)).verdict == OK


def test_expiring_depends_on_what_the_store_relies_on(tmp_path, cas):
    g2_only = audit_root(root_with(tmp_path, cas, ["SFSRootCAG2"]), None)
    g2_only.at = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    found = g2_only.findings("expiring")  # the bundle and the hashed directory
    assert sorted(f.split(" (")[0] for f in found) == [
        "/etc/ssl/certs",
        "/etc/ssl/certs/ca-certificates.crt",
    ]
    assert all("loses TLS trust on 2027-04-15 (in 135 days)" in f for f in found)
    g2_only.warn_days = 100
    assert g2_only.findings("expiring") == []
    every = audit_root(root_with(tmp_path / "all", cas, [*AMAZON, "SFSRootCAG2"]), None)
    every.at = datetime.datetime(2026, 12, 1, tzinfo=UTC)
    assert every.findings("expiring") == []  # Amazon Root CA 1-4 anchor without G2


def test_audit_fail_on_expiring_exit_code(tmp_path, cas):
    """Through the CLI, on any day: the window reaches past G2's distrust date."""
    days = max(0, (datetime.date(2027, 4, 15) - datetime.datetime.now(UTC).date()).days) + 30
    g2_root = root_with(tmp_path, cas, ["SFSRootCAG2"])
    proc = ats("audit", "--root", g2_root, "--fail-on", "expiring", "--warn-days", days)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("ats: error: found expiring: /etc/ssl/certs (")
    assert "/etc/ssl/certs/ca-certificates.crt (" in proc.stderr
    assert "add Amazon Root CA 1-4 themselves" in proc.stderr
    doc = json.loads(ats("audit", "--root", g2_root, "--json", "--warn-days", days).stdout)
    assert doc["calendar"]["stores"]["/etc/ssl/certs/ca-certificates.crt"]
    every = root_with(tmp_path / "all", cas, [*AMAZON, "SFSRootCAG2"])
    proc = ats("audit", "--root", every, "--fail-on", "expiring", "--warn-days", days)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_verify_report_by_key_with_injected_pins(tmp_path):
    k = trust_pki.key("rsa", 30)
    pinned = trust_pki.make("Own Root V", k, trust_pki.Spec())
    other = trust_pki.make(
        "Own Root V", k, trust_pki.Spec(not_after=trust_pki.T0 + 9000 * trust_pki.DAY)
    )
    pins = [
        KeyPin("Own Root V", _portable.sha256_hex(pinned.der), _portable.spki_sha256(pinned.der))
    ]
    bundle = tmp_path / "b.pem"
    bundle.write_bytes(other.pem)
    (row,) = keys.store_report(store_view.view_bundle(str(bundle)), pins)
    assert row["trusted"] and row["how"] == keys.SAME_KEY and row["where"] == [str(bundle)]
    assert "not the pinned one" in row["note"]
    bundle.write_bytes(pinned.pem)
    (row,) = keys.store_report(store_view.view_bundle(str(bundle)), pins)
    assert row["trusted"] and row["how"] == keys.PINNED and row["note"] == ""
    stranger = trust_pki.make("Own Root V", trust_pki.key("rsa", 31), trust_pki.Spec())
    bundle.write_bytes(stranger.pem)
    (row,) = keys.store_report(store_view.view_bundle(str(bundle)), pins)
    assert not row["trusted"] and row["how"] == keys.ABSENT


def test_java_store_with_only_the_cross_signed_root_ca_1(tmp_path, cas):
    """Java key stores take part: a cacerts with rootca1.pem, not Amazon Root CA 1."""
    import jks

    root = root_with(tmp_path, cas, [*AMAZON[1:], "SFSRootCAG2"])
    names = ["rootca1", *AMAZON[1:], "SFSRootCAG2"]
    entries = [
        jks.TrustedCertEntry.new(
            n.lower(), _portable.pem_blocks((FIXTURES / f"{n}.pem").read_bytes())[0][1]
        )
        for n in names
    ]
    path = tmp_path / "root/etc/ssl/certs/java/cacerts"
    path.parent.mkdir(parents=True)
    path.write_bytes(jks.KeyStore.new("jks", entries).saves("changeit"))
    store = next(s for s in audit_root(root, "changeit").stores if s.kind == "java jks")
    assert store.ats() == [False, True, True, True, True]
    assert store.key_notes()[0].startswith("Amazon Root CA 1: only a cross-signed copy")

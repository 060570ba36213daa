"""`ats audit --root`: every kind of store in synthetic roots, each planted
gap found with its path, what is not a store left out, exit codes."""

from __future__ import annotations

import json
import os

import audit_plants as plants
import pytest
from helpers import ats, one_error_line

from ats_roots import _portable
from ats_roots.audit import audit_root, table, to_json
from ats_roots.audit.model import MISSING, OK, PINNED, UNREADABLE

CERTIFI = "/usr/lib/python3/dist-packages/certifi/cacert.pem"
PIP_CERTIFI = "/usr/lib/python3/dist-packages/pip/_vendor/certifi/cacert.pem"
DEBIAN_RELEASE = b'ID=debian\nVERSION_ID="12"\n'


@pytest.fixture(scope="module")
def cas():
    return plants.test_cas(12)


def debian_root(root: str, cas, with_ats: bool) -> None:
    """A Debian-shaped trust store: bundle, hashed directory, OpenSSL's links."""
    extra = plants.ats_pems() if with_ats else []
    bundle = plants.pem_bundle(cas) + b"".join(extra)
    files = {
        "/etc/os-release": DEBIAN_RELEASE,
        "/etc/ssl/certs/ca-certificates.crt": bundle,
        "/usr/sbin/update-ca-certificates": b"#!/bin/sh\n",
        "/usr/bin/dash": b"\x7fELF",
    }
    links = {
        "/usr/lib/ssl/cert.pem": "/etc/ssl/certs/ca-certificates.crt",
        "/usr/lib/ssl/certs": "/etc/ssl/certs",
        "/bin": "usr/bin",
        "/usr/bin/sh": "dash",
    }
    pems = [ca.cert_pem.bytes() for ca in cas] + extra
    for i, pem in enumerate(pems):
        der = _portable.pem_blocks(pem)[0][1]
        files[f"/usr/share/ca-certificates/test/root{i}.crt"] = pem
        links[f"/etc/ssl/certs/root{i}.pem"] = f"/usr/share/ca-certificates/test/root{i}.crt"
        links[f"/etc/ssl/certs/{_portable.subject_hash(der)}.0"] = f"root{i}.pem"
    plant = plants.Plant(
        "debian",
        "",
        files,
        links,
        modes={"/usr/sbin/update-ca-certificates": 0o755, "/usr/bin/dash": 0o755},
    )
    plant.write(root)


@pytest.fixture
def full_root(tmp_path, cas):
    """One root with a store of every kind, and every gap the issue names."""
    root = str(tmp_path / "root")
    debian_root(root, cas, with_ats=False)
    everything = plants.Plant("all", "", links={plants.JDK17_CACERTS: plants.DEBIAN_JAVA})
    everything.files = {
        plants.DEBIAN_JAVA: plants.jks_store(cas),
        plants.JDK21_CACERTS: plants.p12_truststore(cas),
        plants.PINNED_BUNDLE: plants.pem_bundle(plants.test_cas(1, "Corp")),
        CERTIFI: plants.pem_bundle(cas) + b"".join(plants.ats_pems()),
        PIP_CERTIFI: plants.pem_bundle(cas) + b"".join(plants.ats_pems()),
        plants.BOTOCORE_BUNDLE: plants.pem_bundle(cas),
        "/srv/tls/fullchain.pem": plants.leaf_chain(cas[0]),  # a chain: not a store
        "/usr/lib/python3/dist-packages/foo/tests/ca.pem": plants.pem_bundle(cas[:1]),
        "/usr/share/doc/x/examples/ca.pem": plants.pem_bundle(cas[:1]),
        "/opt/app/keys/server.p12": b"not a store, not named like one",
        **plants.old_sdk_files(),
    }
    everything.write(root)
    return root


def by_path(report) -> dict:
    return {s.path: s for s in report.stores}


def test_every_kind_of_store_with_its_verdict(full_root):
    stores = by_path(audit_root(full_root, "changeit"))
    expect = {
        "/etc/ssl/certs/ca-certificates.crt": ("system bundle", MISSING, 12),
        "/etc/ssl/certs": ("system hashed dir", MISSING, 12),
        plants.DEBIAN_JAVA: ("java jks", MISSING, 12),
        plants.JDK21_CACERTS: ("java pkcs12", MISSING, 12),
        plants.PINNED_BUNDLE: ("pem bundle", PINNED, 1),
        CERTIFI: ("python certifi", OK, 17),
        PIP_CERTIFI: ("python certifi (pip)", OK, 17),
        plants.BOTOCORE_BUNDLE: ("python botocore", MISSING, 12),
    }
    assert {p: (s.kind, s.verdict, s.total) for p, s in stores.items()} == expect


def test_links_are_aliases_of_the_store_they_lead_to(full_root):
    stores = by_path(audit_root(full_root, "changeit"))
    assert stores["/etc/ssl/certs/ca-certificates.crt"].aliases == ["/usr/lib/ssl/cert.pem"]
    assert stores["/etc/ssl/certs"].aliases == ["/usr/lib/ssl/certs"]
    assert stores[plants.DEBIAN_JAVA].aliases == [plants.JDK17_CACERTS]  # every JDK's cacerts


def test_a_complete_store_is_ok_and_names_each_root(tmp_path, cas):
    root = str(tmp_path)
    debian_root(root, cas, with_ats=True)
    report = audit_root(root, None)
    assert [s.verdict for s in report.stores] == [OK, OK]
    doc = to_json(report)
    assert doc["stores"][0]["ats"] == {
        "Amazon Root CA 1": True,
        "Amazon Root CA 2": True,
        "Amazon Root CA 3": True,
        "Amazon Root CA 4": True,
        "Starfield Services Root Certificate Authority - G2": True,
    }


def test_one_root_missing_is_named(tmp_path, cas):
    root = str(tmp_path)
    debian_root(root, cas, with_ats=True)
    bundle = tmp_path / "etc/ssl/certs/ca-certificates.crt"
    g2 = plants.ats_pems()[4]
    bundle.write_bytes(bundle.read_bytes().replace(g2, b""))
    store = by_path(audit_root(root, None))["/etc/ssl/certs/ca-certificates.crt"]
    assert store.verdict == MISSING
    assert store.missing_roots() == ["Starfield Services Root Certificate Authority - G2"]


def test_no_ca_package_names_where_openssl_looks(tmp_path):
    """Debian without ca-certificates: OpenSSL's CAfile is a dangling link."""
    plants.Plant(
        "bare",
        "",
        {"/etc/os-release": DEBIAN_RELEASE},
        {"/usr/lib/ssl/cert.pem": "/etc/ssl/certs/ca-certificates.crt"},
    ).write(str(tmp_path))
    (tmp_path / "etc/ssl/certs").mkdir(parents=True)
    report = audit_root(str(tmp_path), None)
    assert report.family == "notool" and report.openssl_dir == "/usr/lib/ssl"
    [store] = report.stores
    assert (store.path, store.verdict, store.absent) == (
        "/etc/ssl/certs/ca-certificates.crt",
        MISSING,
        True,
    )
    assert store.aliases == ["/usr/lib/ssl/cert.pem"]
    assert "absent" in store.note
    assert report.findings("missing") == ["/etc/ssl/certs/ca-certificates.crt"]


def test_scratch_image_layout(tmp_path, cas):
    """No os-release, no tools: OpenSSL's compiled-in default is assumed."""
    plants.Plant(
        "s", "", {plants.SCRATCH_BUNDLE: plants.pem_bundle(cas), "/app": plants.static_binary()}
    ).write(str(tmp_path))
    report = audit_root(str(tmp_path), None)
    assert (report.family, report.openssl_dir) == ("notool", "/etc/ssl")
    assert [(s.path, s.verdict) for s in report.stores] == [(plants.SCRATCH_BUNDLE, MISSING)]


def test_openssl_trusted_certificate_form_counts(tmp_path, cas):
    """RHEL's ca-bundle.trust.crt holds TRUSTED CERTIFICATE blocks."""
    import base64

    blocks = b""
    for pem in plants.ats_pems() + [ca.cert_pem.bytes() for ca in cas]:
        der = _portable.pem_blocks(pem)[0][1] + bytes.fromhex("300a300806062b0601050507")
        body = base64.encodebytes(der)
        blocks += b"-----BEGIN TRUSTED CERTIFICATE-----\n" + body
        blocks += b"-----END TRUSTED CERTIFICATE-----\n"
    plants.Plant(
        "rhel",
        "",
        {
            "/etc/os-release": b"ID=rhel\n",
            "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt": blocks,
        },
    ).write(str(tmp_path))
    store = by_path(audit_root(str(tmp_path), None))[
        "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt"
    ]
    assert (store.kind, store.total, store.verdict) == ("system bundle", 17, OK)


def test_what_is_not_a_trust_store_is_left_out(full_root):
    paths = set(by_path(audit_root(full_root, "changeit")))
    for not_a_store in (
        "/srv/tls/fullchain.pem",
        "/usr/lib/python3/dist-packages/foo/tests/ca.pem",
        "/usr/share/doc/x/examples/ca.pem",
        "/opt/app/keys/server.p12",
        "/usr/share/ca-certificates/test/root0.crt",
        "/etc/ssl/certs/root0.pem",
    ):
        assert not_a_store not in paths


def test_java_store_with_another_password(tmp_path, cas):
    plants.Plant(
        "j",
        "",
        {
            "/opt/jre/lib/security/cacerts": plants.jks_store(cas, "s3cret"),
            "/opt/x/trust.p12": plants.p12_truststore(cas, _encrypted("pw")),
        },
    ).write(str(tmp_path))
    wrong = by_path(audit_root(str(tmp_path), "changeit"))
    assert "integrity check fails" in wrong["/opt/jre/lib/security/cacerts"].note
    assert wrong["/opt/jre/lib/security/cacerts"].total == 12  # JKS certificates are not secret
    assert wrong["/opt/x/trust.p12"].verdict == UNREADABLE
    right = by_path(audit_root(str(tmp_path), "s3cret"))
    assert right["/opt/jre/lib/security/cacerts"].note == ""


def _encrypted(password: str):
    from cryptography.hazmat.primitives.serialization import BestAvailableEncryption

    return BestAvailableEncryption(password.encode())


def test_old_sdks_by_package_metadata(full_root):
    sdks = audit_root(full_root, None).sdks
    found = {(s.ecosystem, s.package, s.version, s.path) for s in sdks}
    site = plants.SITE
    assert found == {
        ("python", "botocore", "0.80.0", f"{site}/botocore-0.80.0.dist-info"),
        ("python", "boto", "2.9.0", f"{site}/boto-2.9.0.egg-info"),
        ("node", "aws-sdk", "2.0.31", "/srv/app/node_modules/aws-sdk/package.json"),
        ("java", "aws-java-sdk", "1.9.0", "/opt/app/lib/aws-java-sdk-core-1.9.0.jar"),
        (
            "ruby",
            "aws-sdk",
            "1.50.0",
            "/usr/lib/ruby/gems/2.1.0/specifications/aws-sdk-1.50.0.gemspec",
        ),
    }  # awscli 1.10.0 is after the cut-off: not listed
    boto = next(s for s in sdks if s.package == "boto")
    assert (boto.first_fixed, boto.approximate) == ("2.37.0", False)
    assert "cacerts.txt" in boto.why


def test_egg_info_as_a_file_and_version_from_metadata(tmp_path):
    """distutils wrote egg-info as one file; the version is read from it, not the name."""
    plants.Plant(
        "e",
        "",
        {
            "/usr/lib/python2.7/dist-packages/boto-2.3.0.egg-info": b"Name: boto\nVersion: 2.3.1\n",
        },
    ).write(str(tmp_path))
    [sdk] = audit_root(str(tmp_path), None).sdks
    assert (sdk.package, sdk.version) == ("boto", "2.3.1")


def test_walk_reads_only_heads_of_named_candidates(tmp_path):
    blob = os.urandom(1 << 20)
    for i in range(20):
        (tmp_path / f"lib{i}.so").write_bytes(blob)  # never opened: not a store name
    (tmp_path / "noise.pem").write_bytes(blob)  # opened for 4 KiB, then dropped
    (tmp_path / "huge-bundle.pem").write_bytes(b"-----BEGIN CERTIFICATE-----\n" * (1 << 20))
    report = audit_root(str(tmp_path), None)
    assert report.stats["files"] == 22
    assert report.stats["bytes"] > 20 << 20
    assert report.stats["read_bytes"] <= 4096  # the 28 MiB "bundle" is over the size limit


def test_table_and_json(full_root):
    report = audit_root(full_root, "changeit")
    lines = table(report)
    assert lines[2].split() == [
        "STORE",
        "KIND",
        "ROOTS",
        "CA1",
        "CA2",
        "CA3",
        "CA4",
        "G2",
        "VERDICT",
    ]
    assert any(line.startswith(plants.PINNED_BUNDLE) and line.endswith("PINNED") for line in lines)
    assert any(line.startswith("  = " + plants.JDK17_CACERTS) for line in lines)
    assert "old AWS SDKs (released before 2015-02-05):" in lines
    doc = to_json(report, ["pinned"])
    assert doc["fail_on"] == {"pinned": [plants.PINNED_BUNDLE]} and doc["failed"]
    assert doc["summary"] == {
        "stores": 8,
        "ok": 2,
        "missing": 5,
        "pinned": 1,
        "unreadable": 0,
        "old_sdks": 5,
        "mail": {
            "settings": 0,
            "ok": 0,
            "missing": 0,
            "pinned": 0,
            "unreadable": 0,
            "unverified": 0,
        },
    }
    assert doc["mail"] == []
    json.dumps(doc)


@pytest.mark.parametrize(
    ("fail_on", "code"),
    [([], 0), (["missing"], 1), (["pinned"], 1), (["old-sdk"], 1), (["missing,pinned"], 1)],
)
def test_fail_on_exit_codes(full_root, fail_on, code):
    args = [a for what in fail_on for a in ("--fail-on", what)]
    proc = ats("audit", "--root", full_root, *args)
    assert proc.returncode == code, proc.stderr
    if code:
        assert one_error_line(proc).startswith("ats: error: found ")


def test_fail_on_clean_root_is_zero(tmp_path, cas):
    debian_root(str(tmp_path), cas, with_ats=True)
    proc = ats("audit", "--root", str(tmp_path), "--fail-on", "missing,pinned,old-sdk", "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["failed"] is False


@pytest.mark.parametrize(
    "argv",
    [
        ["audit"],
        ["audit", "img", "--root", "/"],
        ["audit", "--root", "/nonexistent-ats-dir"],
        ["audit", "--root", "/", "--fail-on", "everything"],
    ],
)
def test_bad_input_is_exit_2(argv):
    proc = ats(*argv)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("ats: error:")


def test_no_docker_engine_is_exit_3():
    env = {**os.environ, "DOCKER_HOST": "unix:///nonexistent/docker.sock"}
    proc = ats("audit", "any/image:tag", env=env)
    assert proc.returncode == 3
    assert "no Docker Engine" in proc.stderr

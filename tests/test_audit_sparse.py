"""The sparse copy of an image export: it keeps exactly what audit reads,
never writes outside itself, and audit sees in it what it sees in the full
file system."""

from __future__ import annotations

import io
import os
import tarfile

import audit_plants as plants
import pytest

from ats_roots.audit import audit_root
from ats_roots.audit.scan import audit_target
from ats_roots.audit.sparse import materialize
from ats_roots.errors import BadInput
from ats_roots.system.target import Target


def export_of(root: str, extra=()) -> bytes:
    """What `docker export` streams: a tar of the whole tree, plus extra members."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        tar.add(root, arcname=".")
        for info, data in extra:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def chunks(data: bytes, size: int = 7777):
    """Odd-sized chunks, as an HTTP stream delivers them."""
    return (data[i : i + size] for i in range(0, len(data), size))


@pytest.fixture
def planted(tmp_path):
    root = str(tmp_path / "full")
    cas = plants.test_cas(12)
    plants.Plant(
        "x",
        "",
        {
            "/etc/os-release": b"ID=alpine\n",
            "/usr/sbin/update-ca-certificates": b"#!/bin/sh\necho\n",
            "/bin/busybox": b"\x7fELF",
            plants.SCRATCH_BUNDLE: plants.pem_bundle(cas),
            plants.DEBIAN_JAVA: plants.jks_store(cas),
            plants.PINNED_BUNDLE: plants.pem_bundle(cas[:1]),
            "/usr/lib/libbig.so": os.urandom(1 << 20),
            **plants.old_sdk_files(),
        },
        {
            "/bin/sh": "/bin/busybox",
            "/etc/ssl/cert.pem": "certs/ca-certificates.crt",
            plants.JDK17_CACERTS: plants.DEBIAN_JAVA,
        },
        modes={"/usr/sbin/update-ca-certificates": 0o755, "/bin/busybox": 0o755},
    ).write(root)
    return root


def test_keeps_what_audit_reads_and_nothing_else(planted, tmp_path):
    sparse = materialize(chunks(export_of(planted)), str(tmp_path / "sparse"))
    kept = {
        os.path.relpath(os.path.join(d, f), sparse.root)
        for d, _, files in os.walk(sparse.root)
        for f in files
    }
    assert "usr/lib/libbig.so" not in kept
    assert {
        "etc/os-release",
        "usr/sbin/update-ca-certificates",
        "etc/ssl/certs/ca-certificates.crt",
        "etc/ssl/certs/java/cacerts",
        "app/certs/ca.pem",
    } <= kept
    assert os.path.getsize(os.path.join(sparse.root, "bin/busybox")) == 0  # a stand-in
    assert os.readlink(os.path.join(sparse.root, "bin/sh")) == "/bin/busybox"
    assert sparse.bytes > 1 << 20 and sparse.read_bytes < 64 << 10
    with open(os.path.join(sparse.root, "usr/sbin/update-ca-certificates"), "rb") as f:
        assert f.read().startswith(b"#!/bin/sh")  # its interpreter is checked by patch


def test_audit_of_the_copy_equals_audit_of_the_tree(planted, tmp_path):
    sparse = materialize(chunks(export_of(planted)), str(tmp_path / "sparse"))
    full = audit_root(planted, "changeit")
    copy = audit_target(Target(sparse.root), "changeit")
    assert [s.to_json() for s in copy.stores] == [s.to_json() for s in full.stores]
    assert [s.to_json() for s in copy.sdks] == [s.to_json() for s in full.sdks]
    assert (
        (copy.family, copy.openssl_dir) == (full.family, full.openssl_dir) == ("alpine", "/etc/ssl")
    )


def _member(name, kind=tarfile.REGTYPE, linkname=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def test_never_writes_through_a_symlink_or_outside(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    pem = plants.pem_bundle(plants.test_cas(1))
    evil_file = _member("escape/ca.pem")
    evil_file.size = len(pem)
    dotdot = _member("../ca.pem")
    dotdot.size = len(pem)
    (tmp_path / "empty").mkdir()
    data = export_of(
        str(tmp_path / "empty"),
        [
            (_member("escape", tarfile.SYMTYPE, str(outside)), None),
            (evil_file, pem),
        ],
    )
    materialize(chunks(data), str(tmp_path / "sparse"))
    assert list(outside.iterdir()) == []
    # A member with '..' is refused, named, and nothing lands above the copy.
    data = export_of(str(tmp_path / "empty"), [(dotdot, pem)])
    with pytest.raises(BadInput, match=r"'\.\./ca\.pem' climbs out"):
        materialize(chunks(data), str(tmp_path / "sparse2"))
    assert not (tmp_path / "ca.pem").exists()


def test_hard_links_and_modes(tmp_path):
    root = tmp_path / "full"
    (root / "etc/ssl/certs").mkdir(parents=True)
    bundle = root / "etc/ssl/certs/ca-certificates.crt"
    bundle.write_bytes(plants.pem_bundle(plants.test_cas(2)))
    os.link(bundle, root / "etc/ssl/cert.pem")
    (root / "etc/ssl/private").mkdir(mode=0o700)
    sparse = materialize(chunks(export_of(str(root))), str(tmp_path / "sparse"))
    assert os.path.samefile(
        os.path.join(sparse.root, "etc/ssl/cert.pem"),
        os.path.join(sparse.root, "etc/ssl/certs/ca-certificates.crt"),
    )
    assert sparse.dir_modes["/etc/ssl/private"] == 0o700

"""The hostile-image corpus: export streams and CA-tool output that aim at
the host, fed to the code `ats audit IMAGE` and `ats patch` run on them
(audit.sparse.materialize for the export, patch.system._unpack_one and
patch.layer.Layer for what the tool left). Documented outcome: a member no
docker export has (absolute name, '..', a hard link out of the tree, a
name twice, a header or a copy past its bound) is refused with exit 2 and
the member named; links are recorded, never followed; devices, FIFOs and
sockets are never made. The host sentinel stays byte-identical.
"""

from __future__ import annotations

import io
import os
import stat
import tarfile

import pytest
from corpus import make_sentinel
from helpers import tree_digest

from ats_roots.audit import sparse as sparse_mod
from ats_roots.audit.sparse import materialize
from ats_roots.errors import BadInput, EnvRefuses
from ats_roots.patch.layer import Layer
from ats_roots.patch.system import _unpack_one

PEM = b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


def member(name, kind=tarfile.REGTYPE, data=b"", linkname=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    return info, data


def stream(members, fmt=tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return out.getvalue()


def chunks(data: bytes):
    return [data[i : i + 4096] for i in range(0, len(data), 4096)]


@pytest.fixture
def host(tmp_path):
    return make_sentinel(tmp_path)


def refused_export(tmp_path, host, members, words, fmt=tarfile.GNU_FORMAT):
    before = tree_digest(host)
    with pytest.raises(BadInput, match=words) as info:
        materialize(chunks(stream(members, fmt)), str(tmp_path / "sparse"))
    assert "\n" not in str(info.value)
    assert tree_digest(host) == before
    return info


def test_export_member_with_dotdot(tmp_path, host):
    refused_export(tmp_path, host, [member("etc/../../x.pem", data=PEM)], r"'etc/\.\./\.\./x\.pem'")
    assert not (tmp_path / "x.pem").exists()


def test_export_member_with_an_absolute_name(tmp_path, host):
    name = str(host / "etc/ssl/certs/ca-certificates.crt")
    refused_export(tmp_path, host, [member(name, data=PEM)], "has an absolute name")


def test_export_hard_link_out_of_the_tree(tmp_path, host):
    members = [
        member("escape", tarfile.SYMTYPE, linkname=str(host / "etc")),
        member("etc/ssl/cert.pem", tarfile.LNKTYPE, linkname="escape/os-release"),
    ]
    refused_export(tmp_path, host, members, "points out of the tree")


def test_export_hard_link_to_an_absolute_name(tmp_path, host):
    members = [member("etc/passwd", tarfile.LNKTYPE, linkname="/etc/shadow")]
    refused_export(tmp_path, host, members, "has an absolute name")


def test_export_name_twice(tmp_path, host):
    members = [member("etc/ssl/cert.pem", data=PEM), member("etc/ssl/cert.pem", data=PEM)]
    refused_export(tmp_path, host, members, "appears twice")


def test_export_header_bomb_hits_the_memory_bound(tmp_path, host):
    info, data = member("etc/ssl/cert.pem", data=PEM)
    info.pax_headers = {"comment": "x" * (sparse_mod.MAX_HEADER + 1)}
    refused_export(tmp_path, host, [(info, data)], "memory bound", fmt=tarfile.PAX_FORMAT)


def test_export_too_many_members_hits_the_memory_bound(tmp_path, host, monkeypatch):
    monkeypatch.setattr(sparse_mod, "MAX_ENTRIES", 50)
    members = [member(f"etc/d{i}", tarfile.DIRTYPE) for i in range(60)]
    refused_export(tmp_path, host, members, "memory bound")


def test_export_tar_bomb_hits_the_disk_bound(tmp_path, host, monkeypatch):
    monkeypatch.setattr(sparse_mod, "MAX_DISK", 64 << 10)
    big = PEM * 400  # a kept trust store (PEM under /etc), 20 KiB each
    members = [member(f"etc/ssl/bomb{i}.pem", data=big) for i in range(10)]
    refused_export(tmp_path, host, members, "disk bound")
    # Control: the same stream under the real bound goes through.
    monkeypatch.setattr(sparse_mod, "MAX_DISK", 512 << 20)
    materialize(chunks(stream(members)), str(tmp_path / "sparse-ok"))


def test_export_links_are_recorded_never_followed(tmp_path, host):
    before = tree_digest(host)
    members = [
        member("etc", tarfile.DIRTYPE),
        member("etc/ssl", tarfile.SYMTYPE, linkname=str(host / "etc/ssl")),
        member("etc/ssl/certs/ca-certificates.crt", data=PEM),
        member("usr/local/share/ca-certificates", tarfile.SYMTYPE, linkname="../../../" * 8),
        member("usr/local/share/ca-certificates/evil.crt", data=PEM),
    ]
    sparse = materialize(chunks(stream(members)), str(tmp_path / "sparse"))
    assert os.readlink(os.path.join(sparse.root, "etc/ssl")) == str(host / "etc/ssl")
    assert tree_digest(host) == before


def test_export_devices_and_fifos_are_never_made(tmp_path, host):
    members = [
        member("dev/null", tarfile.CHRTYPE),
        member("dev/sda", tarfile.BLKTYPE),
        member("run/ctl", tarfile.FIFOTYPE),
        member("etc/ssl/cert.pem", data=PEM),
    ]
    sparse = materialize(chunks(stream(members)), str(tmp_path / "sparse"))
    kinds = {
        os.path.relpath(os.path.join(d, n), sparse.root): stat.S_IFMT(
            os.lstat(os.path.join(d, n)).st_mode
        )
        for d, dirs, files in os.walk(sparse.root)
        for n in dirs + files
    }
    assert kinds["etc/ssl/cert.pem"] == stat.S_IFREG  # positive control
    assert not [k for k, m in kinds.items() if m not in (stat.S_IFREG, stat.S_IFDIR)], kinds


# --- what the image's CA tool left, as docker's get_archive hands it back


def get_archive(members) -> list[bytes]:
    return [stream(members)]


def test_tool_turns_a_directory_into_a_link_to_the_host(tmp_path, host):
    """The third reproduction: the tool leaves /etc/ssl/certs as an absolute
    link; it goes into the layer as a link, and a later write under it (a
    bundle the image names) is refused instead of landing in the host."""
    before = tree_digest(host)
    layer = Layer(str(tmp_path / "layer"), {})
    target = str(host / "etc/ssl/certs")
    made_a_link = get_archive([member("certs", tarfile.SYMTYPE, linkname=target)])
    _unpack_one(made_a_link, "/etc/ssl/certs", layer)
    assert os.readlink(layer.host("/etc/ssl/certs")) == target
    assert "/etc/ssl/certs" in layer.files()
    with pytest.raises(EnvRefuses, match="symbolic link .* ats never writes through one"):
        layer.write("/etc/ssl/certs/java/cacerts", b"keystore")
    assert tree_digest(host) == before


def test_tool_output_with_a_dotdot_member(tmp_path, host):
    layer = Layer(str(tmp_path / "layer"), {})
    members = [member("certs", tarfile.DIRTYPE), member("certs/../../../x", data=PEM)]
    with pytest.raises(BadInput, match=r"'certs/\.\./\.\./\.\./x'"):
        _unpack_one(get_archive(members), "/etc/ssl/certs", layer)


@pytest.mark.parametrize(
    "kind, words",
    [
        (tarfile.CHRTYPE, "a device, FIFO or socket"),
        (tarfile.FIFOTYPE, "a device, FIFO or socket"),
        (tarfile.LNKTYPE, "a hard link"),
    ],
)
def test_tool_output_special_members_are_refused(tmp_path, host, kind, words):
    layer = Layer(str(tmp_path / "layer"), {})
    members = [member("certs", tarfile.DIRTYPE), member("certs/x", kind, linkname="certs")]
    with pytest.raises(BadInput, match=words):
        _unpack_one(get_archive(members), "/etc/ssl/certs", layer)
    assert layer.files() == []


def test_tool_output_name_twice_and_oversized(tmp_path, host, monkeypatch):
    from ats_roots.patch import layer as layer_mod

    layer = Layer(str(tmp_path / "layer"), {})
    twice = [member("certs/a.pem", data=PEM), member("certs/a.pem", data=PEM)]
    with pytest.raises(BadInput, match="appears twice"):
        _unpack_one(get_archive(twice), "/etc/ssl/certs", layer)
    monkeypatch.setattr(layer_mod, "MAX_MEMBER", 10)
    with pytest.raises(BadInput, match="past the bound"):
        _unpack_one(get_archive([member("certs/b.pem", data=PEM)]), "/etc/ssl/certs", layer)
    # Control: within the bound it is taken, at its path.
    monkeypatch.setattr(layer_mod, "MAX_MEMBER", 64 << 20)
    _unpack_one(get_archive([member("certs/b.pem", data=PEM)]), "/etc/ssl/certs", layer)
    assert layer.read("/etc/ssl/certs/b.pem") == PEM

"""The safe-path primitive on its own: resolution as the target sees it,
refusals with one line, atomic changes relative to directory fds, the
openat2 and manual-walk paths agreeing, and its 3.6 grammar (the hook
inlines it)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from ats_roots.system import safepath
from ats_roots.system.safepath import Refused, Root, Tree


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    for d in ("etc/ssl/certs", "usr/lib/ssl", "var"):
        (root / d).mkdir(parents=True)
    outside.mkdir()
    os.symlink(str(outside), root / "var/lib")  # absolute: inside, as the target sees it
    os.symlink("../../usr/lib/ssl", root / "etc/ssl/lib")
    os.symlink("../" * 20 + "etc", root / "usr/up")  # climbs past the top: refused
    os.symlink("../etc", root / "usr/etc")  # climbs to the top, not past it
    (root / "etc/ssl/certs/b.crt").write_text("bundle\n")
    return root, outside


@pytest.fixture(params=["openat2", "walk"])
def walk_mode(request, monkeypatch):
    if request.param == "walk":
        monkeypatch.setattr(safepath, "_OPENAT2", [None])
    elif not safepath.openat2_used():
        pytest.skip("no openat2 on this kernel: the walk is all there is")
    return request.param


def test_resolution_as_the_target_sees_it(tree, walk_mode):
    root, outside = tree
    top = Root(str(root))
    assert top.resolve("/var/lib/ats-roots/lock") == f"{outside}/ats-roots/lock"
    assert top.resolve("/etc/ssl/lib/cert.pem") == "/usr/lib/ssl/cert.pem"
    assert top.resolve("/usr/etc/ssl/certs/b.crt") == "/etc/ssl/certs/b.crt"
    assert top.read("/usr/etc/ssl/certs/b.crt") == b"bundle\n"
    assert top.read("/etc/ssl/lib/../../etc/ssl/certs/b.crt") == b"bundle\n"


def _every_op(top):
    return {
        "resolve": top.resolve,
        "read": top.read,
        "lstat": top.lstat,
        "listdir": top.listdir,
        "replace": lambda p: top.replace(p, b"data"),
        "stage": lambda p: top.stage(p, b"data"),
        "makedirs": top.makedirs,
        "symlink": lambda p: top.symlink(p, "x"),
        "unlink": top.unlink,
        "rmdir": top.rmdir,
        "open_lock": top.open_lock,
        "probe_dir": top.probe_dir,
    }


@pytest.mark.parametrize(
    "path, words",
    [
        ("/usr/up/ssl/certs/b.crt", "the link /usr/up -> ../../../"),
        ("/../etc/ssl/certs/b.crt", "`..` climbs past the top"),
    ],
)
def test_dotdot_past_the_top_is_refused_not_clamped(tree, walk_mode, path, words):
    """Clamped (as chroot and RESOLVE_IN_ROOT do), /usr/up/ssl would be the
    target's /etc/ssl: a read would give b.crt and a write would land there.
    Refused instead, by every operation, with one line naming the link."""
    root, outside = tree
    before = sorted(str(p) for p in root.rglob("*"))
    top = Root(str(root))
    for name, op in _every_op(top).items():
        with pytest.raises(Refused) as info:
            op(path)
        line = str(info.value)
        assert words in line and "climbs past the top" in line, (name, line)
        assert line.startswith(str(root)) and "\n" not in line, (name, line)
    assert sorted(str(p) for p in root.rglob("*")) == before


def test_a_refused_read_is_not_an_openat2_clamp(tree, monkeypatch):
    """openat2(RESOLVE_IN_ROOT) would have read /usr/up/ssl/certs/b.crt as
    /etc/ssl/certs/b.crt; the read asks RESOLVE_BENEATH, which fails there
    (EXDEV), and naming the file the target's way refuses. An absolute link
    (Debian's hash links all are) fails RESOLVE_BENEATH too, and is read by
    its resolved name, still without the walk. Negative control: a relative
    link that stays inside is read by openat2 alone."""
    if not safepath.openat2_used():
        pytest.skip("no openat2 on this kernel: the walk is all there is")
    root, _ = tree
    os.symlink("/etc/ssl/certs/b.crt", root / "etc/ssl/certs/0a1b2c3d.0")
    top = Root(str(root))
    walks = []
    real_at = Root._at

    def counted_at(self, *args, **kwargs):  # the real walk, counted
        walks.append(args)
        return real_at(self, *args, **kwargs)

    monkeypatch.setattr(Root, "_at", counted_at)
    assert top.read("/etc/ssl/lib/../../etc/ssl/certs/b.crt") == b"bundle\n"
    assert top.read("/etc/ssl/certs/0a1b2c3d.0") == b"bundle\n"
    assert walks == []
    with pytest.raises(Refused, match="climbs past the top"):
        top.read("/usr/up/ssl/certs/b.crt")


def test_writes_land_inside_and_outside_stays_empty(tree, walk_mode):
    root, outside = tree
    top = Root(str(root))
    created = []
    top.replace("/var/lib/ats-roots/manifest", b"m\n", created=created)
    assert list(outside.iterdir()) == []
    assert (root / str(outside).lstrip("/") / "ats-roots/manifest").read_bytes() == b"m\n"
    assert created[-1] == f"{outside}/ats-roots"
    assert top.unlink("/var/lib/ats-roots/manifest")
    for inner in reversed(created):
        assert top.rmdir(inner)


@pytest.mark.parametrize(
    "build, words",
    [
        (lambda r: (os.symlink("b", r / "a"), os.symlink("a", r / "b")), "link loop at /a"),
        (
            lambda r: [os.symlink(f"c{i + 1}", r / f"c{i}") for i in range(41)],
            "more than 40 symbolic links",
        ),
        (lambda r: (r / "a").write_text(""), "/a is a file, not a directory"),
    ],
)
def test_refusals_name_the_path_and_the_link(tmp_path, walk_mode, build, words):
    build(tmp_path)
    top = Root(str(tmp_path))
    path = "/c0/x" if "40" in words else "/a/x"
    for op in (top.resolve, top.read, lambda p: top.replace(p, b"data")):
        with pytest.raises(Refused) as info:
            op(path)
        assert words in str(info.value) and "\n" not in str(info.value)
    assert not [n for n in os.listdir(tmp_path) if n.startswith(safepath.TEMP_PREFIX)]


def test_fifo_is_never_opened_blocking(tmp_path, walk_mode):
    os.mkfifo(tmp_path / "fifo")
    top = Root(str(tmp_path))
    with pytest.raises(Refused, match="is a FIFO"):
        top.read("/fifo")
    with pytest.raises(Refused, match="is a FIFO"):
        top.replace("/fifo", b"x")


def test_replace_is_atomic_and_leaves_no_temp(tmp_path):
    (tmp_path / "f").write_bytes(b"old")
    top = Root(str(tmp_path))
    staged = top.stage("/f", b"new")
    assert (tmp_path / "f").read_bytes() == b"old"  # staged: not yet visible
    assert any(n.startswith(safepath.TEMP_PREFIX) for n in os.listdir(tmp_path))
    staged.commit()
    assert (tmp_path / "f").read_bytes() == b"new"
    assert os.listdir(tmp_path) == ["f"]
    top.stage("/f", b"newer").discard()
    assert os.listdir(tmp_path) == ["f"] and (tmp_path / "f").read_bytes() == b"new"


def test_no_follow_roots_and_trees_keep_links_as_links(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    layer = tmp_path / "layer"
    layer.mkdir()
    os.symlink(str(outside), layer / "certs")
    top = Root(str(layer), follow=False)
    with pytest.raises(Refused, match="ats never writes through one"):
        top.replace("/certs/x.pem", b"x")
    top.replace("/certs", b"file now")  # the link itself is replaced, not followed
    assert (layer / "certs").read_bytes() == b"file now" and list(outside.iterdir()) == []
    (tmp_path / "sparse").mkdir()
    sparse = Tree(str(tmp_path / "sparse"))
    sparse.symlink("/etc/ssl", str(outside))
    with pytest.raises(Refused, match="a symbolic link in the image"):
        sparse.file("/etc/ssl/x.pem", b"x")
    sparse.close()
    assert list(outside.iterdir()) == []


def test_the_primitive_is_python_3_6_grammar():
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    path = safepath.__file__
    proc = subprocess.run(
        [vermin, "--no-tips", "--violations", "-t=3.6-", path],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr

"""The hostile-image corpus through the real commands: each image is built
here with the real Docker (a tiny Dockerfile FROM the local Debian base, or
a crafted tar through `docker import`), then the real CLI runs on it in a
new process: `ats audit IMAGE` and `ats patch IMAGE --tag NEW`. After each
command, the three things of the corpus (see corpus.py):

  1. the host sentinel (a temp directory the image aims at) is byte-identical,
  2. the image is untouched (same ID) and a refused patch leaves no NEW
     behind, or the patched image's own audit finds every root,
  3. the exit code is the documented one with one line `ats: error: ...`,
     never a traceback.

What Docker itself makes of a crafted tar (20.10 here): `..` and absolute
member names are cleaned into the image (they land inside it), a hard link
out of the tree is refused by `docker import`, and a symlink that climbs
out is kept as it is. The rest (members no docker export has) is fed to the
same code in-process by test_hostile_images.py.
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import uuid

import pytest
from corpus import make_sentinel
from helpers import docker_engine, tree_digest

pytestmark = pytest.mark.docker
BASE = "ats-local/debian-noamazon:bookworm"  # Debian's own CA tool, no Amazon roots
TOOL = "/usr/sbin/update-ca-certificates"
BUNDLE = "etc/ssl/certs/ca-certificates.crt"
NO_TRACEBACK = "Traceback"
# docker import leaves Config.Env empty; the image patch commits gets the
# Engine's default PATH, which patch does not count as a changed config.


@pytest.fixture(scope="module")
def client():
    return docker_engine(BASE)


@pytest.fixture
def names(client):
    """Image names for one test (ats-test/hostile-*, which make clean knows), removed after it."""
    made = []

    def name(kind: str) -> str:
        made.append(f"ats-test/hostile-{kind}:{uuid.uuid4().hex[:8]}")
        return made[-1]

    yield name
    import docker

    for ref in made:
        with contextlib.suppress(docker.errors.APIError):
            client.images.remove(ref, force=True)


def build(client, tag: str, dockerfile: str, files: dict[str, str] | None = None) -> str:
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        for name, text in {"Dockerfile": dockerfile, **(files or {})}.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(text.encode()), 0o755
            tar.addfile(info, io.BytesIO(text.encode()))
    context.seek(0)
    image, _ = client.images.build(
        fileobj=context, custom_context=True, tag=tag, rm=True, forcerm=True, pull=False,
        network_mode="none",
    )  # fmt: skip
    return image.id


def hostile_tool(script: str) -> tuple[str, dict]:
    """A Dockerfile whose update-ca-certificates is script (run by patch
    in its throwaway container, as root)."""
    dockerfile = f"FROM {BASE}\nCOPY tool {TOOL}\n"
    return dockerfile, {"tool": "#!/bin/sh\n" + script + "\n"}


def imported(client, tag: str, members) -> str:
    """docker import of a tar made member by member (names as given)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, data, linkname in members:
            info = tarfile.TarInfo(name)
            info.type, info.linkname = kind, linkname
            info.size = len(data) if kind == tarfile.REGTYPE else 0
            info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
            tar.addfile(info, io.BytesIO(data) if kind == tarfile.REGTYPE else None)
    argv = ["docker", "import", "-", tag]
    proc = subprocess.run(argv, input=out.getvalue(), capture_output=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr.decode()
    return client.images.get(tag).id


def debian_tree(extra) -> list:
    """The smallest tree patch takes for Debian (no tool: bundle written directly)."""
    d, f = tarfile.DIRTYPE, tarfile.REGTYPE
    tree = [("etc", d, b"", ""), ("etc/os-release", f, b"ID=debian\nVERSION_ID=12\n", "")]
    tree += [("etc/ssl", d, b"", ""), ("etc/ssl/certs", d, b"", ""), ("usr/lib/ssl", d, b"", "")]
    return tree + list(extra)


def run_ats(*args, env=None) -> tuple[subprocess.CompletedProcess, int, float]:
    """The real CLI in a new process; its exit, its peak memory (KiB, from
    wait4: this child alone) and its seconds."""
    argv = [sys.executable, "-m", "ats_roots", *map(str, args)]
    start = time.monotonic()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=env)
        timer = threading.Timer(600, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        done = subprocess.CompletedProcess(argv, proc.returncode, out.read(), err.read())
    return done, usage.ru_maxrss, time.monotonic() - start


class Case:
    """One hostile image, the host sentinel it aims at, and the checks."""

    def __init__(self, client, host, image_id: str, ref: str):
        self.client, self.host, self.image_id, self.ref = client, host, image_id, ref
        self.host_digest = tree_digest(host)

    def run(self, args, code: int, words: str | None, env=None):
        proc, peak, seconds = run_ats(*args, env=env)
        detail = f"{args}: exit {proc.returncode}\n{proc.stdout[-2000:]}{proc.stderr[-2000:]}"
        assert NO_TRACEBACK not in proc.stderr, detail
        assert proc.returncode == code, detail
        if words:
            lines = proc.stderr.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("ats: error: "), detail
            assert words in lines[0], detail
        assert tree_digest(self.host) == self.host_digest, f"{args} changed the host sentinel"
        assert self.client.images.get(self.ref).id == self.image_id, f"{args} changed the image"
        return proc, peak, seconds

    def patch_refused(self, new: str, code: int, words: str, env=None):
        import docker

        out = self.run(["patch", self.ref, "--tag", new], code, words, env)
        with pytest.raises(docker.errors.ImageNotFound):
            self.client.images.get(new)
        return out

    def patch_right(self, new: str):
        self.run(["patch", self.ref, "--tag", new], 0, None)
        # Fully right: the new image's own audit finds every root where it looks.
        proc, _, _ = run_ats("audit", new, "--fail-on", "missing")
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert tree_digest(self.host) == self.host_digest


@pytest.fixture
def host(tmp_path):
    return make_sentinel(tmp_path)


def test_the_tool_turns_a_directory_into_a_link_to_the_host(client, names, host):
    """The third reproduction of the issue, end to end: the image's CA tool
    leaves /etc/ssl/certs an absolute link to a host directory."""
    ref = names("tool-link")
    dockerfile, files = hostile_tool(
        f"rm -rf /etc/ssl/certs && ln -s {host}/etc/ssl/certs /etc/ssl/certs"
    )
    case = Case(client, host, build(client, ref, dockerfile, files), ref)
    case.run(["audit", ref], 0, None)  # the image as built: nothing of it runs
    case.patch_refused(
        names("tool-link-new"), 3, "recorded from the image; ats never writes through one"
    )


def test_the_tool_leaves_a_fifo_as_the_bundle(client, names, host):
    ref = names("tool-fifo")
    dockerfile, files = hostile_tool(f"rm -f /{BUNDLE} && mkfifo /{BUNDLE}")
    case = Case(client, host, build(client, ref, dockerfile, files), ref)
    case.patch_refused(names("tool-fifo-new"), 2, "'ca-certificates.crt': a device, FIFO or socket")


def test_the_tool_leaves_a_member_past_the_bound(client, names, host):
    """3 GiB (a sparse file): refused by its header, in bounded memory and
    time (read whole first, it took 6 GB and 68 s before the refusal)."""
    ref = names("tool-huge")
    dockerfile, files = hostile_tool(f"truncate -s 3G /{BUNDLE}")
    case = Case(client, host, build(client, ref, dockerfile, files), ref)
    _, peak, seconds = case.patch_refused(names("tool-huge-new"), 2, "past the bound")
    assert peak < 400 << 10, f"patch peaked at {peak} KiB"
    assert seconds < 300


def test_the_image_has_a_fifo_as_the_bundle_and_a_device_as_a_store(client, names, host):
    """Audit reads neither (never opened); patch runs Debian's own tool,
    which writes the bundle and so blocks on the FIFO for ever: stopped at
    the tool timeout and refused in one line (it was a traceback after 300 s)."""
    ref = names("fifo-bundle")
    dockerfile = (
        f"FROM {BASE}\nRUN rm -f /{BUNDLE} /usr/lib/ssl/cert.pem && mkfifo /{BUNDLE} "
        "&& mknod /usr/lib/ssl/cert.pem c 1 3\n"
    )
    case = Case(client, host, build(client, ref, dockerfile), ref)
    case.run(["audit", ref], 0, None)
    env = dict(os.environ, ATS_TOOL_TIMEOUT="15")
    _, _, seconds = case.patch_refused(names("fifo-bundle-new"), 3, "ran longer than 15 s", env)
    assert seconds < 120


def test_import_cleans_dotdot_and_absolute_names_into_the_image(client, names, host):
    """Members named to land on the host sentinel: docker import puts them
    inside the image, and ats reads and patches that image like any other."""
    ref = names("import-names")
    f = tarfile.REGTYPE
    aimed = [
        ("etc/../../.." + str(host / BUNDLE), f, b"not a bundle\n", ""),
        (str(host / "var/lib/host-state"), f, b"changed by the image\n", ""),
    ]
    case = Case(client, host, imported(client, ref, debian_tree(aimed)), ref)
    case.run(["audit", ref], 0, None)
    case.patch_right(names("import-names-new"))


def test_import_refuses_a_hard_link_out_of_the_tree(client, names, host):
    """Never an image: docker import itself refuses the stream (so only the
    in-process corpus can feed it to ats)."""
    ref = names("import-hardlink")
    members = debian_tree(
        [
            ("escape", tarfile.SYMTYPE, b"", str(host / "etc")),
            ("etc/ssl/cert.pem", tarfile.LNKTYPE, b"", "escape/os-release"),
        ]
    )
    with pytest.raises(AssertionError, match="link"):
        imported(client, ref, members)
    import docker

    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(ref)


def test_import_keeps_a_link_that_climbs_out_and_ats_refuses_it(client, names, host):
    ref = names("import-climb")
    climb = (
        "etc/ssl/certs",
        tarfile.SYMTYPE,
        b"",
        "../../" * 8 + str(host / "etc/ssl/certs").lstrip("/"),
    )
    tree = [m for m in debian_tree([]) if m[0] != "etc/ssl/certs"] + [climb]
    case = Case(client, host, imported(client, ref, tree), ref)
    case.run(["audit", ref], 3, "climbs past the top")
    case.patch_refused(names("import-climb-new"), 3, "climbs past the top")


def test_control_the_same_pipeline_patches_an_honest_image(client, names, host):
    """Negative control of the refusals above: the same build, the real tool
    (the streamed get_archive of what it changed), patch tags the new image
    and its audit finds every root."""
    ref = names("honest")
    case = Case(client, host, build(client, ref, f"FROM {BASE}\nLABEL ats-h2=honest\n"), ref)
    case.patch_right(names("honest-new"))

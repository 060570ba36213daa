"""hooks/ats-hook in real containers: the proofs the issue asks for.

The hook goes in the way users without a rebuild add it: a read-only bind
mount at run time (/usr/local/bin/ats-hook), in front of CMD. The public
Amazon intermediates (tests/fixtures/ats-public) are mounted at /fx.

Images come from scripts/build-bases. With ATS_REQUIRE_DOCKER=1 a missing
Docker Engine or image fails these tests instead of skipping them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
import uuid
from pathlib import Path

import pytest
from helpers import need

pytestmark = pytest.mark.docker

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"
FIXTURES = REPO / "tests" / "fixtures" / "ats-public"

DEBIAN = "ats-local/debian:bookworm"
NOAMAZON = "ats-local/debian-noamazon:bookworm"  # Amazon roots deselected in ca-certificates.conf
BARE = "ats-local/debian-bare:bookworm"  # python3-minimal + openssl, no CA package
ALPINE = "ats-local/alpine-python:3.23"  # musl, CPython 3.13 in /usr/local

HOOK_CMD = ["python3", "-I", "-S", "/usr/local/bin/ats-hook", "--"]  # as hooks/README.md says
# One intermediate under each root; rootca1 is Amazon Root CA 1 cross-signed by
# Starfield Services G2, so all five roots are needed for all to verify.
INTERMEDIATES = ["r2m02.pem", "r4m02.pem", "e2m02.pem", "e3m02.pem", "rootca1.pem"]
OPENSSL_VERIFY = "openssl verify " + " ".join("/fx/" + n for n in INTERMEDIATES)
# Python's ssl: the default context (what urllib, requests via SSL_CERT_FILE... load).
PYTHON_TRUSTS = (
    'python3 -c "import ssl,sys; names = {v for c in ssl.create_default_context().get_ca_certs()'
    " for rdn in c['subject'] for k, v in rdn if k in ('commonName', 'organizationalUnitName')};"
    " want = {'Amazon Root CA 1', 'Amazon Root CA 2', 'Amazon Root CA 3', 'Amazon Root CA 4',"
    " 'Starfield Services Root Certificate Authority - G2'}; missing = want - names;"
    " print('python ssl missing', sorted(missing)) if missing else print('python ssl ok');"
    ' sys.exit(1 if missing else 0)"'
)
CHECKS = f"{OPENSSL_VERIFY} && {PYTHON_TRUSTS}"
AS_USER = {"user": "1000", "read_only": True, "tmpfs": {"/tmp": ""}}


def fail_or_skip(message):
    need(False, message, "DOCKER")


@pytest.fixture(scope="module")
def client():
    try:
        import docker

        docker_client = docker.from_env()
        docker_client.ping()
    except Exception as exc:  # no SDK, no socket, no daemon: all mean no Docker here
        fail_or_skip(f"no Docker Engine: {exc}")
    return docker_client


@pytest.fixture(scope="module")
def images(client):
    import docker

    def need(name):
        try:
            client.images.get(name)
        except docker.errors.ImageNotFound:
            fail_or_skip(f"image {name} missing; build it with scripts/build-bases")
        return name

    return need


def unique(kind):
    return f"ats-hook-test-{kind}-{uuid.uuid4().hex[:10]}"


def mounts(hook=True, extra=None):
    volumes = {str(FIXTURES): {"bind": "/fx", "mode": "ro"}}
    if hook:
        volumes[str(HOOK)] = {"bind": "/usr/local/bin/ats-hook", "mode": "ro"}
    volumes.update(extra or {})
    return volumes


class Ran:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err

    def __repr__(self):
        return f"exit {self.code}\nstdout: {self.out}\nstderr: {self.err}"


def run(client, image, command, hook=True, volumes=None, **kw):
    """Run a container to its end; its exit code and output, and it is gone."""
    container = client.containers.run(
        image,
        command,
        name=unique("run"),
        detach=True,
        volumes=mounts(hook, volumes),
        **kw,
    )
    try:
        code = container.wait(timeout=180)["StatusCode"]
        out = container.logs(stdout=True, stderr=False).decode()
        err = container.logs(stdout=False, stderr=True).decode()
        return Ran(code, out, err)
    finally:
        container.remove(force=True)


def sh(script):
    return ["sh", "-c", script]


# --- trust: without the hook it fails, with it python's ssl and openssl verify


@pytest.mark.parametrize("user", [{}, AS_USER], ids=["root", "user1000-readonly"])
def test_without_the_hook_amazon_is_not_trusted(client, images, user):
    ran = run(client, images(NOAMAZON), sh(OPENSSL_VERIFY), hook=False, **user)
    assert ran.code != 0 and "unable to get local issuer certificate" in ran.out + ran.err
    ran = run(client, images(NOAMAZON), sh(PYTHON_TRUSTS), hook=False, **user)
    assert ran.code == 1 and "python ssl missing" in ran.out


def test_root_writable_installs_the_debian_way(client, images):
    again = "python3 /usr/local/bin/ats-hook -- true"  # the next start, plain: silent, fast path
    script = f"{CHECKS} && cat /var/lib/ats-roots/manifest && {again}"
    ran = run(client, images(NOAMAZON), HOOK_CMD + sh(script))
    assert ran.code == 0, ran
    assert ran.out.count(": OK") == len(INTERMEDIATES) and "python ssl ok" in ran.out
    assert ran.err.splitlines() == [
        "ats-hook: added the Amazon roots to the system store (debian: update-ca-certificates)"
    ]
    anchors = [line.split("\t") for line in ran.out.splitlines() if line.startswith("anchor\t")]
    assert sorted(a[1] for a in anchors) == [
        f"/usr/local/share/ca-certificates/ats-{n}.crt"
        for n in ("AmazonRootCA1", "AmazonRootCA2", "AmazonRootCA3", "AmazonRootCA4", "SFSRootCAG2")
    ]


def test_non_root_read_only_uses_a_private_bundle(client, images):
    ran = run(
        client, images(NOAMAZON), HOOK_CMD + sh(f"{CHECKS} && echo $SSL_CERT_FILE"), **AS_USER
    )
    assert ran.code == 0, ran
    assert "python ssl ok" in ran.out
    assert ran.out.splitlines()[-1] == "/tmp/ats-hook-1000/ca-bundle.pem"
    assert len(ran.err.splitlines()) == 1 and "private CA bundle" in ran.err


def test_root_on_a_read_only_root_uses_a_private_bundle(client, images):
    ran = run(client, images(NOAMAZON), HOOK_CMD + sh(CHECKS), read_only=True, tmpfs={"/tmp": ""})
    assert ran.code == 0, ran
    assert "private CA bundle /tmp/ats-hook-0/ca-bundle.pem" in ran.err


def test_read_only_with_no_tmpfs_falls_back_to_dev_shm(client, images):
    ran = run(client, images(NOAMAZON), HOOK_CMD + sh(OPENSSL_VERIFY), user="1000", read_only=True)
    assert ran.code == 0, ran
    assert "/dev/shm/ats-hook-1000/ca-bundle.pem" in ran.err


def test_enforce_exit_3_when_nothing_is_writable(client, images):
    no_place = {"ATS_HOOK_DIR": "/nonexistent"}
    ran = run(
        client,
        images(NOAMAZON),
        HOOK_CMD + sh("echo ran"),
        environment=no_place,
        **AS_USER,
    )
    assert ran.code == 3 and ran.out == ""
    assert ran.err.startswith("ats-hook: error: no writable place for a private CA bundle")
    warn = dict(no_place, ATS_HOOK_MODE="warn")
    ran = run(client, images(NOAMAZON), HOOK_CMD + sh("echo ran"), environment=warn, **AS_USER)
    assert ran.code == 0 and ran.out == "ran\n" and "warning" in ran.err


# --- exec: exit codes and signals reach CMD directly


@pytest.mark.parametrize("user", [{}, AS_USER], ids=["root", "user1000-readonly"])
@pytest.mark.parametrize("image", [NOAMAZON, DEBIAN])
def test_exit_code_passes_through(client, images, image, user):
    ran = run(client, images(image), HOOK_CMD + sh("exit 7"), **user)
    assert ran.code == 7, ran


def test_docker_stop_sends_sigterm_to_cmd(client, images):
    waiter = (
        "import os,signal,sys,time\n"
        "def stop(*_):\n    print('got SIGTERM', flush=True); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('pid', os.getpid(), flush=True)\n"
        "time.sleep(120)\n"
    )
    container = client.containers.run(
        images(NOAMAZON),
        HOOK_CMD + ["python3", "-c", waiter],
        name=unique("stop"),
        detach=True,
        volumes=mounts(),
        **AS_USER,
    )
    try:
        deadline = time.monotonic() + 60
        while b"pid" not in container.logs(stderr=False) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert container.logs(stderr=False).decode().startswith("pid 1\n")  # CMD is PID 1
        started = time.monotonic()
        container.stop(timeout=10)
        elapsed = time.monotonic() - started
        assert container.wait(timeout=30)["StatusCode"] == 0
        assert elapsed < 5, f"docker stop took {elapsed:.1f}s: SIGTERM did not reach CMD"
        assert "got SIGTERM" in container.logs(stderr=False).decode()
    finally:
        container.remove(force=True)


# --- the init-container way: --export into a named volume, read without the hook


def test_export_into_a_named_volume(client, images):
    volume = client.volumes.create(unique("vol"))
    try:
        shared = {volume.name: {"bind": "/ats", "mode": "rw"}}
        init = run(
            client, images(NOAMAZON), [*HOOK_CMD[:-1], "--export", "/ats"], volumes=shared,
        )  # fmt: skip
        assert init.code == 0, init
        assert init.err.startswith("ats-hook: wrote /ats/ca-bundle.pem")
        reader = {volume.name: {"bind": "/ats", "mode": "ro"}}
        env = {"SSL_CERT_FILE": "/ats/ca-bundle.pem"}
        ran = run(
            client, images(NOAMAZON), sh(CHECKS), hook=False, volumes=reader, environment=env,
            **AS_USER,
        )  # fmt: skip
        assert ran.code == 0, ran
        assert "python ssl ok" in ran.out
        control = run(client, images(NOAMAZON), sh(OPENSSL_VERIFY), hook=False, volumes=reader)
        assert control.code != 0
    finally:
        volume.remove(force=True)


# --- other bases: python3-minimal (no shutil, json, tempfile), musl


def test_python3_minimal_root_no_ca_package(client, images):
    """No CA tool: appends to the bundle OpenSSL reads and adds hash links,
    as ats install's no-tool family does; Python here has no shutil, no json."""
    script = (
        "python3 -c 'import shutil' 2>/dev/null && echo HAS-SHUTIL;"
        f" openssl verify -CApath /etc/ssl/certs {' '.join('/fx/' + n for n in INTERMEDIATES)}"
        " && cut -f1 /var/lib/ats-roots/manifest | sort | uniq -c"
    )
    before = run(client, images(BARE), sh(script), hook=False)
    assert before.code != 0 and ": OK" not in before.out, before  # negative control
    ran = run(client, images(BARE), HOOK_CMD + sh(script))
    assert ran.code == 0, ran
    assert "HAS-SHUTIL" not in ran.out
    assert ran.out.count(": OK") == len(INTERMEDIATES)
    counts = {line.split()[1]: int(line.split()[0]) for line in ran.out.splitlines()[-4:]}
    assert counts == {"append": 5, "create": 1, "file": 5, "link": 5}
    assert "(notool: appended to its bundles)" in ran.err


def test_python3_minimal_non_root(client, images):
    before = run(client, images(BARE), sh(OPENSSL_VERIFY), hook=False, **AS_USER)
    assert before.code != 0, before  # negative control: no CA package, nothing trusted
    ran = run(client, images(BARE), HOOK_CMD + sh(OPENSSL_VERIFY), **AS_USER)
    assert ran.code == 0, ran
    assert "private CA bundle" in ran.err


@pytest.mark.parametrize("user", [{}, AS_USER], ids=["root", "user1000-readonly"])
def test_alpine_musl_python_fast_path(client, images, user):
    """The store already trusts the roots: nothing said, nothing changed, CMD's code."""
    ran = run(client, images(ALPINE), HOOK_CMD + sh(f"{PYTHON_TRUSTS} && exit 7"), **user)
    assert ran.code == 7, ran
    assert ran.err == "" and "python ssl ok" in ran.out


# --- `ats uninstall` undoes what the hook did (the same manifest)


def test_ats_uninstall_undoes_the_hook(client, images, tmp_path):
    need(os.geteuid() == 0, "unpacking a root file system and chroot need root", "ROOTFS")
    container = client.containers.run(
        images(NOAMAZON), HOOK_CMD + ["true"], name=unique("undo"), detach=True, volumes=mounts()
    )
    try:
        assert container.wait(timeout=180)["StatusCode"] == 0
        rootfs = tmp_path / "rootfs"
        stream = io.BytesIO(b"".join(container.export()))
        with tarfile.open(fileobj=stream) as tar:
            tar.extractall(rootfs, filter="fully_trusted")
    finally:
        container.remove(force=True)
    bundle = rootfs / "etc/ssl/certs/ca-certificates.crt"
    root_ca_1 = (FIXTURES / "AmazonRootCA1.pem").read_text().strip()
    assert root_ca_1 in bundle.read_text()
    proc = subprocess.run(
        [sys.executable, "-m", "ats_roots", "uninstall", "--root", str(rootfs)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO / "src")),
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert not list((rootfs / "usr/local/share/ca-certificates").glob("ats-*"))
    assert root_ca_1 not in bundle.read_text()
    assert (rootfs / "var/lib/ats-roots/manifest").read_text() == ""

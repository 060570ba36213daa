"""The hook and `ats install` must leave the same trust store behind, in a
real container.

Both run the one install core (system/_core.py, inlined into the hook by
scripts/gen-hook); tests/test_hook_parity.py compares them on every family
the hook can meet, by chroot into real root file systems. This is the same
comparison where the hook really runs: as root inside a container (overlay
file system, the container's /dev, no chroot), against `ats install --root`
on the base's exported file system; they must end with the same
trust-store files and manifest.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import dockerrun
import matrixlib
import pytest

from ats_roots import _portable

docker = pytest.importorskip("docker")
HOOK = os.path.join(matrixlib.REPO, "src", "ats_roots", "hook", "ats-hook")
REQUIRE = os.environ.get("ATS_REQUIRE_DOCKER") == "1"
# Everything a trust-store install may touch, on any family.
STORE_PATHS = ("etc/ssl", "usr/lib/ssl", "usr/local/share/ca-certificates", "etc/pki",
               "var/lib/ats-roots/manifest")
CASES = {
    "debian tool family": "ats-local/debian-noamazon:bookworm",
    "no tool (debian-bare)": "ats-local/debian-bare:bookworm",
    "alpine tool family (musl python)": "ats-local/alpine-python-noamazon:3.23",
}

pytestmark = pytest.mark.docker
KEEP = STORE_PATHS + ("etc/os-release", "usr/lib/os-release")


def store_digest(root: str) -> dict[str, str]:
    """path -> sha256 of content (or link target) for every store file."""
    out = {}
    for top in STORE_PATHS:
        base = os.path.join(root, top)
        entries = [(base, [], [])] if os.path.isfile(base) else os.walk(base)
        for dirpath, _, files in entries:
            for name in files or ([""] if dirpath == base and os.path.isfile(base) else []):
                path = os.path.join(dirpath, name) if name else dirpath
                rel = os.path.relpath(path, root)
                if os.path.islink(path):
                    out[rel] = "-> " + os.readlink(path)
                else:
                    with open(path, "rb") as f:
                        out[rel] = content_key(f.read())
    return out


def content_key(data: bytes) -> str:
    """Bytes, except for certificate bundles: there the multiset of
    certificates. Alpine's update-ca-certificates concatenates in readdir
    order, which differs between the host's file system and a container's
    overlay, so the same install gives the same certificates in another order."""
    blocks = _portable.pem_blocks(data)
    if len(blocks) > 1:
        return "certs:" + ",".join(sorted(_portable.sha256_hex(der) for _, der in blocks))
    return hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("image", list(CASES.values()), ids=list(CASES))
def test_hook_and_ats_install_agree(docker_client, image, tmp_path):
    client = docker_client
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        if REQUIRE:
            pytest.fail(f"{image} missing: run scripts/build-bases")
        pytest.skip(f"{image} missing: run scripts/build-bases")
    by_ats, by_hook, full = tmp_path / "ats", tmp_path / "hook", tmp_path / "full"
    # 1. ats install --root on the base's whole file system (the tool runs by chroot)
    dockerrun.export_rootfs(client, image, str(by_ats), only=KEEP)
    dockerrun.export_rootfs(client, image, str(full))
    proc = subprocess.run([sys.executable, "-m", "ats_roots", "install", "--root", str(full)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    # 2. the hook as root in a container of the same base, patch only (no CMD)
    hooked = client.containers.create(
        image, ["python3", "-I", "-S", "/usr/local/bin/ats-hook"], entrypoint=[],
        volumes={HOOK: {"bind": "/usr/local/bin/ats-hook", "mode": "ro"}})
    try:
        hooked.start()
        assert hooked.wait(timeout=120)["StatusCode"] == 0, hooked.logs().decode()
        dockerrun.export_container(hooked, str(by_hook), only=KEEP)
    finally:
        hooked.remove(force=True)
    before = store_digest(str(by_ats))
    after_ats, after_hook = store_digest(str(full)), store_digest(str(by_hook))
    assert after_ats != before, "ats install changed nothing: the comparison would be empty"
    differ = sorted(p for p in set(after_ats) | set(after_hook)
                    if after_ats.get(p) != after_hook.get(p))
    assert not differ, f"hook and ats install differ on: {differ[:10]}"

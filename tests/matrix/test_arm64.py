"""arm64 beyond the image matrix's checks: `ats patch` patches an arm64 image (its
own CA tool runs under emulation), the result keeps arm64 in its config, and
`ats audit` reports the platform and passes it; the unpatched image fails the
same audit (negative control). Needs emulation (scripts/emulation): skipped
with the reason where it is missing, failed with ATS_REQUIRE_ARM64=1."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import docker
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "scripts"))
from bases import emulation  # noqa: E402

pytestmark = pytest.mark.docker

ORIGINAL = "ats-local/alpine-noamazon:3.23-arm64"


def ats(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ats_roots", *args], capture_output=True,
                          text=True, timeout=900, check=False)


def audit(image: str) -> tuple[int, dict]:
    proc = ats("audit", image, "--json", "--fail-on", "missing")
    assert proc.stdout.startswith("{"), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def original(docker_client):
    why = emulation.status()
    if why:
        if emulation.required():
            pytest.fail(f"{why} ({emulation.REQUIRE_ENV}=1)")
        pytest.skip(why)
    try:
        return docker_client.images.get(ORIGINAL)
    except docker.errors.ImageNotFound:
        if os.environ.get("ATS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{ORIGINAL} not built (ATS_REQUIRE_DOCKER=1)")
        pytest.skip(f"{ORIGINAL} not built: run make bases")


@pytest.fixture(scope="module")
def patched(docker_client, original):
    tag = f"ats-test/arm64-patched:{uuid.uuid4().hex[:8]}"
    proc = ats("patch", ORIGINAL, "--tag", tag, "--json")
    assert proc.returncode == 0, proc.stderr + proc.stdout
    yield docker_client.images.get(tag)
    docker_client.images.remove(tag)


def test_unpatched_arm64_image_fails_the_audit(original):
    rc, doc = audit(ORIGINAL)
    assert rc == 1, doc
    assert doc["source"]["arch"] == "arm64/v8"


def test_patch_keeps_arm64_and_the_audit_passes(patched):
    assert (patched.attrs["Architecture"], patched.attrs.get("Variant")) == ("arm64", "v8")
    assert patched.labels["io.ats-roots.patch.mode"] == "tool"  # apk's tool, emulated
    rc, doc = audit(patched.tags[0])
    assert rc == 0, doc
    assert doc["source"]["arch"] == "arm64/v8"
    assert doc["summary"], doc


def test_audit_names_the_platform_in_its_table(patched):
    proc = ats("audit", patched.tags[0])
    assert proc.returncode == 0, proc.stderr
    assert ", arm64/v8): family alpine" in proc.stdout.splitlines()[0]

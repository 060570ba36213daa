"""The ats-hook image's bundle (the hook with its own musl CPython) passes the
hook's own tests: tests/test_hook.py run again, each hook start being
BUNDLE/ats-hook, on this glibc machine, from a directory that is not /ats.
That covers every path the hook has (Java, --export, --extra-ca, the SES
preflight's TLS), so a module left out of the bundle's trimmed standard
library fails here. With ATS_REQUIRE_DOCKER=1 a missing engine or image fails.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from ats_roots import __version__

pytestmark = pytest.mark.docker
REPO = Path(__file__).resolve().parent.parent
# ATS_HOOK_IMAGE: another build of it under a test tag (scripts/build-hook-image --tag).
IMAGE = os.environ.get("ATS_HOOK_IMAGE") or f"ats-hook:{__version__}"


def unpack_bundle(dest: Path) -> Path:
    try:
        import docker

        client = docker.from_env()
        container = client.containers.create(IMAGE, ["--version"])
    except Exception as exc:  # noqa: BLE001 - no engine, no image: the same answer
        if os.environ.get("ATS_REQUIRE_DOCKER") == "1":
            pytest.fail(f"{IMAGE} and a Docker Engine are required: {exc}")
        pytest.skip(f"{IMAGE} not available: {exc}")
    try:
        stream, _ = container.get_archive("/ats")
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            tar.extractall(dest, filter="tar")
    finally:
        container.remove(force=True)
    return dest / "ats"


def test_hook_tests_pass_through_the_bundle(tmp_path):
    bundle = unpack_bundle(tmp_path / "somewhere")
    hook = REPO / "src" / "ats_roots" / "hook" / "ats-hook"
    assert (bundle / "ats-hook.py").read_bytes() == hook.read_bytes(), (
        f"{IMAGE} holds another hook than {hook}: rebuild it (scripts/build-hook-image)")
    version = subprocess.run([bundle / "ats-hook", "--version"], capture_output=True, text=True,
                             env={"PATH": "/usr/bin:/bin"}, timeout=60)
    assert version.stdout == f"ats-hook {__version__}\n", version.stderr
    env = dict(os.environ, ATS_HOOK_TEST_BUNDLE=str(bundle))
    # Not these: the bundle brings its parts compiled (tested below), and copies itself.
    skip = ["test_copy_bundle_needs_the_bundle", "test_compiled_code_is_believed_only_when_safe"]
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", str(REPO / "tests" / "test_hook.py"), "-q",
         "-p", "no:cacheprovider", "-x", "-k", " and ".join(f"not {t}" for t in skip)],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout.splitlines()[-1]


def test_bundle_copies_itself_and_believes_only_its_own_code(tmp_path):
    """--copy-bundle makes a bundle that runs from its new place; its compiled
    parts are believed only while no one else may write them (else: compiled
    afresh, as the one-file hook would, and the hook still works)."""
    bundle = unpack_bundle(tmp_path / "image")
    copy = tmp_path / "copy"
    env = {"PATH": "/usr/bin:/bin", "ATS_HOOK_SYSTEM_BUNDLES": "/etc/ssl/certs/ca-certificates.crt",
           "ATS_HOOK_DIR": str(tmp_path), "ATS_HOOK_VERBOSE": "1"}
    done = subprocess.run([bundle / "ats-hook", "--copy-bundle", copy], capture_output=True,
                          text=True, env=env, timeout=60)
    assert done.returncode == 0 and "copied the bundle" in done.stderr, done.stderr
    assert sorted(p.name for p in copy.iterdir()) == sorted(p.name for p in bundle.iterdir())
    first = subprocess.run([copy / "ats-hook", "--", "true"], capture_output=True, text=True,
                           env=env, timeout=60)
    assert first.returncode == 0, first.stderr
    assert "compiled parts: fast" in subprocess.run(
        [copy / "ats-hook", "--", "true"], capture_output=True, text=True, env=env,
        timeout=60).stderr
    os.chmod(copy / "code", 0o777)  # others could have written it: not believed
    for p in tmp_path.glob("ats-hook-*"):
        for f in p.glob("code-*"):
            f.unlink()
    spoiled = subprocess.run([copy / "ats-hook", "--", "true"], capture_output=True, text=True,
                             env=env, timeout=60)
    assert spoiled.returncode == 0 and "compiled parts: none" in spoiled.stderr, spoiled.stderr

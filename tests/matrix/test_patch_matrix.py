"""`ats audit` and `ats patch` on images with planted gaps (tests/audit_plants.py),
built FROM the local bases; one matrix row per image:

1 audit   every planted gap is found, with its path; --fail-on exits 1
2 patch   `ats patch` tags a new image: one layer more, the original untouched,
          entrypoint, cmd, user, env and labels as they were, the roots' labels added
3 after   audit of the new image: nothing misses a root any more; what patch
          cannot change (a pinned bundle, old SDKs) is still named
4 verify  the TLS stack agrees: openssl in the patched image (or in a container
          that mounts the patched bundle) verifies the five Amazon intermediates,
          and fails on the original (negative control); Java stores are read back
          with pyjks and keytool; the FROM scratch image still runs its binary
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path

import docker
import dockerrun
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import audit_plants as plants  # noqa: E402

pytestmark = [
    pytest.mark.docker,
    # SFS Root G2 has serial number 0, which cryptography warns about.
    pytest.mark.filterwarnings("ignore::cryptography.utils.CryptographyDeprecationWarning"),
]

BARE = "ats-local/debian-bare:bookworm"  # openssl, no CA certificates: the verifier
INTERMEDIATES = ["r2m02.pem", "r4m02.pem", "e2m02.pem", "e3m02.pem", "rootca1.pem"]
KEPT = ("Entrypoint", "Cmd", "User", "Env", "WorkingDir", "ExposedPorts", "Volumes")
PLANTS = plants.plants()
RUN = uuid.uuid4().hex[:8]

# name -> what audit must find before the patch: {path: verdict}, and after it.
BEFORE = {
    "noamazon": {"/etc/ssl/certs/ca-certificates.crt": "missing", "/etc/ssl/certs": "missing"},
    "alpine-noamazon": {
        "/etc/ssl/certs/ca-certificates.crt": "missing",
        "/etc/ssl/certs": "missing",
    },
    "no-ca-package": {"/etc/ssl/certs/ca-certificates.crt": "missing"},
    "pinned": {plants.PINNED_BUNDLE: "pinned", "/etc/ssl/certs/ca-certificates.crt": "ok"},
    "java": {
        plants.DEBIAN_JAVA: "missing",
        plants.JDK21_CACERTS: "missing",
        "/etc/ssl/certs/ca-certificates.crt": "ok",
    },
    "old-sdk": {plants.BOTOCORE_BUNDLE: "missing", "/etc/ssl/certs/ca-certificates.crt": "ok"},
    "scratch": {plants.SCRATCH_BUNDLE: "missing"},
    "no-command": {plants.SCRATCH_BUNDLE: "missing"},
}
AFTER_NAMED = {"pinned": {"pinned": [plants.PINNED_BUNDLE]}, "old-sdk": {"old_sdks": 5}}
MODE = {
    "noamazon": "tool",
    "alpine-noamazon": "tool",
    "no-ca-package": "notool",
    "pinned": "none",
    "java": "none",
    "old-sdk": "none",
    "scratch": "notool",
    "no-command": "notool",
}


def cells(check):
    return [
        pytest.param(name, id=name, marks=pytest.mark.cell(f"patch:{name}", check))
        for name in PLANTS
    ]


def ats(*args):
    return subprocess.run(
        [sys.executable, "-m", "ats_roots", *args],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )


def require(ok: bool, why: str) -> None:
    if not ok:
        if os.environ.get("ATS_REQUIRE_DOCKER") == "1":
            pytest.fail(why + " (ATS_REQUIRE_DOCKER=1)")
        pytest.skip(why)


class Plants:
    """The test images, built on first use, and everything made from them;
    all removed at the end of the module."""

    def __init__(self, client):
        self.client, self.images, self.made, self.patched = client, {}, [], {}
        self.originals = {}

    def image(self, name: str) -> str:
        if name not in self.images:
            plant = PLANTS[name]
            if plant.base != "scratch":
                try:
                    self.client.images.get(plant.base)
                except docker.errors.ImageNotFound:
                    require(False, f"{plant.base} missing: run scripts/build-bases")
            if not (plant.files or plant.links or plant.extra):
                self.images[name] = plant.base  # the base itself has the gap
            else:
                tag = f"ats-test/plant-{name}:{RUN}"
                self.client.images.build(
                    fileobj=plant.context(),
                    custom_context=True,
                    tag=tag,
                    rm=True,
                    forcerm=True,
                    pull=False,
                )
                self.made.append(tag)
                self.images[name] = tag
            self.originals[name] = self.client.images.get(self.images[name]).attrs
        return self.images[name]

    def patch(self, name: str) -> dict:
        if name not in self.patched:
            new = f"ats-test/patched-{name}:{RUN}"
            proc = ats("patch", self.image(name), "--tag", new, "--json")
            doc = json.loads(proc.stdout) if proc.stdout.startswith("{") else {}
            if doc.get("tagged"):
                self.made.append(new)
            self.patched[name] = {
                "rc": proc.returncode,
                "stderr": proc.stderr,
                "doc": doc,
                "tag": new,
            }
        result = self.patched[name]
        assert result["rc"] == 0, result["stderr"]
        return result

    def cleanup(self) -> None:
        for tag in reversed(self.made):
            with contextlib.suppress(docker.errors.APIError):
                self.client.images.remove(tag)


@pytest.fixture(scope="module")
def plant(docker_client):
    made = Plants(docker_client)
    yield made
    made.cleanup()


def audit(image: str, *fail_on) -> tuple[int, dict]:
    args = [a for what in fail_on for a in ("--fail-on", what)]
    proc = ats("audit", image, "--json", *args)
    assert proc.stdout.startswith("{"), proc.stderr
    return proc.returncode, json.loads(proc.stdout)


def verdicts(doc: dict) -> dict:
    return {s["path"]: s["verdict"] for s in doc["stores"]}


@pytest.mark.parametrize("name", cells("1 audit"))
def test_audit_finds_each_planted_gap(plant, name, record_property):
    image = plant.image(name)
    rc, doc = audit(image, "missing")
    found = verdicts(doc)
    for path, verdict in BEFORE[name].items():
        assert found.get(path) == verdict, f"{path}: {found}"
    gaps = [p for p, v in BEFORE[name].items() if v == "missing"]
    assert rc == (1 if gaps else 0)
    assert doc["fail_on"]["missing"] == sorted(gaps, key=list(found).index)
    if name == "pinned":
        assert audit(image, "pinned")[0] == 1
    if name == "old-sdk":
        rc, doc = audit(image, "old-sdk")
        assert rc == 1 and len(doc["old_sdks"]) == 5
        assert {s["package"] for s in doc["old_sdks"]} == {
            "botocore",
            "boto",
            "aws-sdk",
            "aws-java-sdk",
        }
    record_property("detail", ", ".join(f"{p} {v}" for p, v in BEFORE[name].items()))


@pytest.mark.parametrize("name", cells("2 patch"))
def test_patch_adds_one_layer_and_keeps_the_config(plant, docker_client, name, record_property):
    result = plant.patch(name)
    doc = result["doc"]
    original = docker_client.images.get(plant.image(name))
    assert original.attrs["Id"] == plant.originals[name]["Id"]  # never changed
    assert original.attrs["Config"] == plant.originals[name]["Config"]
    new = docker_client.images.get(result["tag"])
    added = len(new.attrs["RootFS"]["Layers"]) - len(original.attrs["RootFS"]["Layers"])
    assert new.attrs["RootFS"]["Layers"][: -added or None] == original.attrs["RootFS"]["Layers"]
    assert (added, doc["layers_added"]) == ((0, 0) if name == "pinned" else (1, 1))
    assert (doc["layer_bytes"] > 0) == (added == 1)
    assert doc["mode"] == MODE[name]
    for key in KEPT:
        assert new.attrs["Config"].get(key) == original.attrs["Config"].get(key), key
    labels = new.attrs["Config"]["Labels"] or {}
    for key, value in (original.attrs["Config"].get("Labels") or {}).items():
        assert labels.get(key) == value
    assert "AmazonRootCA1=8ecde688" in labels["io.ats-roots.roots.sha256"]
    record_property(
        "detail", f"{doc['mode']}, {doc['layer_bytes'] / 1024:.0f} KiB, {doc['seconds']:.0f} s"
    )


@pytest.mark.parametrize("name", cells("3 after"))
def test_audit_after_patch(plant, name, record_property):
    tag = plant.patch(name)["tag"]
    rc, doc = audit(tag, "missing")
    assert rc == 0, doc["fail_on"]
    assert all(v in ("ok", "pinned") for v in verdicts(doc).values()), verdicts(doc)
    named = AFTER_NAMED.get(name, {})
    assert [s["path"] for s in doc["stores"] if s["verdict"] == "pinned"] == named.get("pinned", [])
    assert len(doc["old_sdks"]) == named.get("old_sdks", 0)
    if named:
        assert audit(tag, "pinned", "old-sdk")[0] == 1  # still named, still failing CI
    record_property(
        "detail",
        f"{doc['summary']['ok']} ok; still named: "
        f"{len(named.get('pinned', []))} pinned, "
        f"{named.get('old_sdks', 0)} old SDKs",
    )


def fetch(client, image: str, inner: str, scratch: str) -> str:
    """Copy one file out of an image (never started) into a new directory."""
    dest = tempfile.mkdtemp(dir=scratch)
    os.chmod(dest, 0o755)
    container = client.containers.create(image, entrypoint=["/nonexistent"])
    try:
        stream, _ = container.get_archive(inner)
        with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
            member = tar.next()
            data = tar.extractfile(member).read()
    finally:
        container.remove(force=True, v=True)  # with the VOLUME it made
    path = os.path.join(dest, os.path.basename(inner))
    with open(path, "wb") as f:
        f.write(data)
    os.chmod(path, 0o644)
    return path


def run_as_is(client, image: str) -> tuple[int, str]:
    """Run an image with its own entrypoint, cmd and user; (exit code, output)."""
    container = client.containers.run(image, detach=True)
    try:
        status = container.wait(timeout=60)
        return status["StatusCode"], container.logs().decode()
    finally:
        container.remove(force=True, v=True)  # with the VOLUME it made


def verify_in(client, image: str, cafile: str | None = None, capath: str | None = None):
    """openssl verify of the five intermediates: in the image itself with its
    default store, or in the bare verifier with a mounted bundle."""
    fixtures = ["/fixtures/" + n for n in INTERMEDIATES]
    if cafile is None and capath is None:
        return dockerrun.run(client, image, ["verify", *fixtures], entrypoint=["openssl"])
    if capath:
        return dockerrun.run(
            client,
            image,
            ["verify", "-no-CAfile", "-CApath", capath, *fixtures],
            entrypoint=["openssl"],
        )
    mounts = {os.path.dirname(cafile): {"bind": "/mnt", "mode": "ro"}}
    return dockerrun.run(
        client,
        BARE,
        ["verify", "-CAfile", "/mnt/" + os.path.basename(cafile), *fixtures],
        entrypoint=["openssl"],
        mounts=mounts,
    )


@pytest.fixture
def scratch_dir():
    path = tempfile.mkdtemp(prefix="ats-patch-matrix-")
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.mark.parametrize("name", cells("4 verify"))
def test_tls_stack_agrees(plant, docker_client, scratch_dir, name, record_property):
    original, patched = plant.image(name), plant.patch(name)["tag"]
    if name in ("noamazon", "no-ca-package", "pinned"):
        before, after = verify_in(docker_client, original), verify_in(docker_client, patched)
        assert after.exit_code == 0, after.output
        capath = verify_in(docker_client, patched, capath="/etc/ssl/certs")
        assert capath.exit_code == 0, capath.output  # the hash links work too
        if name != "pinned":  # negative control: the original's hash links lack them
            capath_before = verify_in(docker_client, original, capath="/etc/ssl/certs")
            assert capath_before.exit_code != 0, capath_before.output
        if name == "pinned":
            pins = [
                fetch(docker_client, image, plants.PINNED_BUNDLE, scratch_dir)
                for image in (original, patched)
            ]
            assert Path(pins[0]).read_bytes() == Path(pins[1]).read_bytes()  # untouched
            record_property("detail", "system verifies; the pinned bundle is unchanged")
            return
        assert before.exit_code != 0, before.output  # negative control
        record_property("detail", "openssl in the image: fails before, passes after")
    elif name in ("alpine-noamazon", "scratch", "no-command", "old-sdk"):
        inner = {"old-sdk": plants.BOTOCORE_BUNDLE}.get(name, plants.SCRATCH_BUNDLE)
        old = fetch(docker_client, original, inner, scratch_dir)
        new = fetch(docker_client, patched, inner, scratch_dir)
        assert verify_in(docker_client, BARE, cafile=old).exit_code != 0
        result = verify_in(docker_client, BARE, cafile=new)
        assert result.exit_code == 0, result.output
        if name == "scratch":
            assert run_as_is(docker_client, patched) == (0, "ok\n")
        record_property("detail", f"{inner} mounted into {BARE}: fails before, passes after")
    elif name == "java":
        import jks
        from cryptography.hazmat.primitives.serialization import pkcs12

        def aliases(image):
            path = fetch(docker_client, image, plants.DEBIAN_JAVA, scratch_dir)
            return set(jks.KeyStore.loads(Path(path).read_bytes(), "changeit").certs), path

        assert "ats-amazonrootca1" not in aliases(original)[0]  # negative control
        found, jks_path = aliases(patched)
        assert {"ats-amazonrootca1", "ats-sfsrootcag2", "test-root-0"} <= found
        p12_path = fetch(docker_client, patched, plants.JDK21_CACERTS, scratch_dir)
        assert len(pkcs12.load_pkcs12(Path(p12_path).read_bytes(), None).additional_certs) == 17
        keytool = shutil.which("keytool")
        for path in (jks_path, p12_path) if keytool else ():
            listing = subprocess.run(
                [keytool, "-list", "-keystore", path, "-storepass", "changeit"],
                capture_output=True,
                text=True,
                check=True,
            )
            assert listing.stdout.count("trustedCertEntry") == 17
        record_property(
            "detail",
            "JKS and PKCS#12 read back by pyjks, cryptography"
            + (" and keytool" if keytool else ""),
        )

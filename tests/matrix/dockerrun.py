"""Run one command in a throwaway container and get (exit code, output)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import shutil
import tarfile
import tempfile
import uuid
from dataclasses import dataclass

import docker

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
FIXTURES = os.path.join(TESTS, "fixtures", "ats-public")

# Read-only mounts every check may use: the public Amazon certificates and
# the check scripts.
STANDARD_MOUNTS = {
    FIXTURES: {"bind": "/fixtures", "mode": "ro"},
    HERE: {"bind": "/checks", "mode": "ro"},
}


@dataclass
class Result:
    exit_code: int
    output: str

    @property
    def last_line(self) -> str:
        lines = [line for line in self.output.splitlines() if line.strip()]
        return lines[-1] if lines else "(no output)"


def run(client, image: str, argv: list[str], entrypoint=None, mounts=None, network=None,
        user=None, read_only=False, tmpfs=None, environment=None, timeout=None) -> Result:
    """The container is removed afterwards whatever happens."""
    volumes = dict(STANDARD_MOUNTS)
    volumes.update(mounts or {})
    container = client.containers.run(
        image, argv, entrypoint=entrypoint, volumes=volumes, network=network, user=user,
        read_only=read_only, tmpfs=tmpfs, environment=environment, detach=True,
        name=f"ats-matrix-{uuid.uuid4().hex[:10]}",
    )
    try:
        status = container.wait(timeout=timeout or _timeout(client, image))
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return Result(status["StatusCode"], output)
    finally:
        container.remove(force=True)


def _image_id(client, image: str) -> str:
    return client.images.get(image).id.split(":")[-1]


_has_file: dict[tuple[str, str], bool] = {}


def _timeout(client, image: str) -> int:
    """120 s natively; an image of another architecture runs under qemu-user
    emulation, where every process start costs a translator start-up."""
    arch = client.images.get(image).attrs.get("Architecture")
    return 120 if arch in (None, "amd64") else 900


def has_file(client, image: str, path: str) -> bool:
    """Does the image contain path? Looked up without starting its entrypoint,
    once per image ID (the answer cannot change for an ID)."""
    key = (_image_id(client, image), path)
    if key not in _has_file:
        container = client.containers.create(image, entrypoint=["/nonexistent"])
        try:
            container.get_archive(path)
            _has_file[key] = True
        except docker.errors.NotFound:
            _has_file[key] = False
        finally:
            container.remove(force=True)
    return _has_file[key]


EXPORTS = os.path.join(os.path.dirname(TESTS), ".cache", "exports")


def _cached_export(client, image: str) -> str:
    """The image's file system as a tar in .cache/exports: `docker export` of a
    created container, once per image ID (a rebuilt image replaces it)."""
    cached = os.path.join(EXPORTS, _prefix(image) + _image_id(client, image)[:12] + ".tar")
    if os.path.exists(cached):
        return cached
    for old in _older(image, cached):
        if os.path.isdir(old):
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.unlink(old)
    container = client.containers.create(image, entrypoint=["/nonexistent"])
    part = cached + ".part"
    try:
        with open(part, "wb") as tmp:
            for chunk in container.export():
                tmp.write(chunk)
        os.replace(part, cached)
    finally:
        container.remove(force=True)
        if os.path.exists(part):
            os.unlink(part)
    return cached


@contextlib.contextmanager
def _locked(image: str):
    os.makedirs(EXPORTS, exist_ok=True)
    with open(os.path.join(EXPORTS, _prefix(image) + "lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _prefix(image: str) -> str:
    return image.replace("/", "_").replace(":", "_") + "-"


def _older(image: str, keep: str) -> list[str]:
    """The exports (tars and trees) of other IDs of this image."""
    pattern = re.compile(re.escape(_prefix(image)) + r"[0-9a-f]{12}(\.tar)?$")
    return [os.path.join(EXPORTS, n) for n in os.listdir(EXPORTS)
            if pattern.match(n) and not keep.startswith(os.path.join(EXPORTS, n))]


def export_rootfs(client, image: str, dest: str, only=None) -> str:
    """Unpack an image's file system into dest, a tree the caller may change."""
    with _locked(image):
        cached = _cached_export(client, image)
    with tarfile.open(cached) as tar:
        return _extract(tar, dest, only)


def rootfs(client, image: str) -> str:
    """The image's file system unpacked once per image ID under .cache/exports,
    for commands that only read it (`ats verify --root`): never write into it."""
    with _locked(image):
        cached = _cached_export(client, image)
        tree = cached[: -len(".tar")]
        if not os.path.isdir(tree):
            staging = tempfile.mkdtemp(prefix=".tree-", dir=EXPORTS)
            with tarfile.open(cached) as tar:
                _extract(tar, staging, None)
            os.rename(staging, tree)
    return tree


def export_container(container, dest: str, only=None) -> str:
    """Unpack a container's file system into dest: device nodes left out, and
    only the paths starting with one of `only` when given."""
    with tempfile.TemporaryFile() as tmp:
        for chunk in container.export():
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            return _extract(tar, dest, only)


def _extract(tar, dest: str, only) -> str:
    members = [m for m in tar.getmembers()
               if not (m.isdev() or m.name.startswith("dev/"))
               and (only is None or m.name.startswith(tuple(only)))]
    tar.extractall(dest, members=members)  # noqa: S202 - our own image
    return dest

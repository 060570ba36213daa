"""Run one command in a throwaway container and get (exit code, output)."""

from __future__ import annotations

import os
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
        user=None, read_only=False, tmpfs=None, environment=None, timeout=120) -> Result:
    """The container is removed afterwards whatever happens."""
    volumes = dict(STANDARD_MOUNTS)
    volumes.update(mounts or {})
    container = client.containers.run(
        image, argv, entrypoint=entrypoint, volumes=volumes, network=network, user=user,
        read_only=read_only, tmpfs=tmpfs, environment=environment, detach=True,
        name=f"ats-matrix-{uuid.uuid4().hex[:10]}",
    )
    try:
        status = container.wait(timeout=timeout)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace")
        return Result(status["StatusCode"], output)
    finally:
        container.remove(force=True)


def has_file(client, image: str, path: str) -> bool:
    """Does the image contain path? Looked up without starting its entrypoint."""
    container = client.containers.create(image, entrypoint=["/nonexistent"])
    try:
        container.get_archive(path)
        return True
    except docker.errors.NotFound:
        return False
    finally:
        container.remove(force=True)


def export_rootfs(client, image: str, dest: str, only=None) -> str:
    """Unpack an image's file system into dest (for `ats verify --root`)."""
    container = client.containers.create(image, entrypoint=["/nonexistent"])
    try:
        return export_container(container, dest, only)
    finally:
        container.remove(force=True)


def export_container(container, dest: str, only=None) -> str:
    """Unpack a container's file system into dest: device nodes left out, and
    only the paths starting with one of `only` when given."""
    with tempfile.TemporaryFile() as tmp:
        for chunk in container.export():
            tmp.write(chunk)
        tmp.seek(0)
        with tarfile.open(fileobj=tmp) as tar:
            members = [m for m in tar.getmembers()
                       if not (m.isdev() or m.name.startswith("dev/"))
                       and (only is None or m.name.startswith(tuple(only)))]
            tar.extractall(dest, members=members)  # noqa: S202 - our own image
    return dest

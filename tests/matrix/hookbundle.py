"""The hook that brings its own Python (ats-hook:<version>, images/hook), as the
matrix uses it: a named volume filled from the image, mounted read-only at /ats
(docker run -v VOLUME:/ats:ro --entrypoint /ats/ats-hook IMAGE -- CMD)."""

from __future__ import annotations

import io
import os
import tarfile
import uuid

import docker
import pytest

from ats_roots import __version__

HOOK_IMAGE = f"ats-hook:{__version__}"
ARCH = "amd64"  # what scripts/build-hook-image builds (x86_64); rows of another arch: no bundle
PREFIX = "atshook-"
# The users a way in must work for: root; user 1000 on a read-only root with a
# tmpfs at /tmp; and with no tmpfs at all (the hook then uses Docker's /dev/shm).
USERS = (
    ("root", {}),
    ("user1000-read-only", {"user": "1000", "read_only": True, "tmpfs": {"/tmp": ""}}),
    ("user1000-read-only-no-tmpfs", {"user": "1000", "read_only": True}),
)


HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "ats_roots",
                    "hook", "ats-hook")
_checked: list = []


def require_hook_image(client) -> str:
    """The image, holding the hook this tree generates (else the matrix would
    test an old hook and pass)."""
    try:
        client.images.get(HOOK_IMAGE)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{HOOK_IMAGE} was not built: run scripts/build-hook-image (make images)")
    if not _checked:
        container = client.containers.create(HOOK_IMAGE, ["--version"])
        try:
            stream, _ = container.get_archive("/ats/ats-hook.py")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                inside = tar.extractfile(tar.getmembers()[0]).read()
        finally:
            container.remove(force=True)
        with open(HOOK, "rb") as f:
            if f.read() != inside:
                pytest.fail(f"{HOOK_IMAGE} holds another hook than src/ats_roots/hook/ats-hook: "
                            "rebuild it (scripts/build-hook-image)")
        _checked.append(True)
    return HOOK_IMAGE


def fill_volume(client, name: str) -> None:
    """Docker copies an image's content into an empty named volume mounted over
    it when the container is created: create one, never start it."""
    client.volumes.create(name)
    container = client.containers.create(HOOK_IMAGE, ["--version"],
                                         volumes={name: {"bind": "/ats", "mode": "rw"}})
    container.remove()


@pytest.fixture(scope="session")
def hook_volume(docker_client):
    require_hook_image(docker_client)
    name = f"{PREFIX}matrix-{uuid.uuid4().hex[:8]}"
    fill_volume(docker_client, name)
    yield name
    docker_client.volumes.get(name).remove(force=True)


def volume_mount(name: str) -> dict:
    return {name: {"bind": "/ats", "mode": "ro"}}

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
# scripts/build-hook-image --arch x86_64 | aarch64: the bundle for each row's arch
IMAGES = {"amd64": HOOK_IMAGE, "arm64": f"ats-hook:{__version__}-arm64"}
PREFIX = "atshook-"
# The users a way in must work for: root; user 1000 on a read-only root with a
# tmpfs at /tmp; and with no tmpfs at all (the hook then uses Docker's /dev/shm).
USERS = (
    ("root", {}),
    ("user1000-read-only", {"user": "1000", "read_only": True, "tmpfs": {"/tmp": ""}}),
    ("user1000-read-only-no-tmpfs", {"user": "1000", "read_only": True}),
)
# Under emulation (arm64 rows, seconds a start): root and user 1000 on a
# read-only root. Where the hook writes when /tmp is not writable is chosen by
# the same Python code on every architecture, and shown on every amd64 row.
EMULATED_USERS = USERS[:2]


def users(arch: str) -> tuple:
    return USERS if arch == "amd64" else EMULATED_USERS


HOOK = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "src", "ats_roots",
                    "hook", "ats-hook")
_checked: set = set()


def require_hook_image(client, arch: str = "amd64") -> str:
    """The image, holding the hook this tree generates (else the matrix would
    test an old hook and pass)."""
    image = IMAGES[arch]
    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        pytest.fail(f"{image} was not built: run scripts/build-hook-image (make images)")
    if image not in _checked:
        container = client.containers.create(image, ["--version"], platform=f"linux/{arch}")
        try:
            stream, _ = container.get_archive("/ats/ats-hook.py")
            with tarfile.open(fileobj=io.BytesIO(b"".join(stream))) as tar:
                inside = tar.extractfile(tar.getmembers()[0]).read()
        finally:
            container.remove(force=True)
        with open(HOOK, "rb") as f:
            if f.read() != inside:
                pytest.fail(f"{image} holds another hook than src/ats_roots/hook/ats-hook: "
                            "rebuild it (scripts/build-hook-image)")
        _checked.add(image)
    return image


def fill_volume(client, name: str, arch: str = "amd64") -> None:
    """Docker copies an image's content into an empty named volume mounted over
    it when the container is created: create one, never start it."""
    client.volumes.create(name)
    container = client.containers.create(IMAGES[arch], ["--version"], platform=f"linux/{arch}",
                                         volumes={name: {"bind": "/ats", "mode": "rw"}})
    container.remove()


@pytest.fixture(scope="session")
def hook_volumes(docker_client):
    """arch -> a volume filled from that arch's bundle, made when first asked for."""
    made: dict = {}

    def for_arch(arch: str) -> str:
        if arch not in made:
            require_hook_image(docker_client, arch)
            made[arch] = f"{PREFIX}matrix-{arch}-{uuid.uuid4().hex[:8]}"
            fill_volume(docker_client, made[arch], arch)
        return made[arch]

    yield for_arch
    for name in made.values():
        docker_client.volumes.get(name).remove(force=True)


@pytest.fixture(scope="session")
def hook_volume(hook_volumes):
    return hook_volumes("amd64")


def volume_mount(name: str) -> dict:
    return {name: {"bind": "/ats", "mode": "ro"}}

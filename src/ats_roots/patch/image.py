"""Turn the staged layer into an image, untagged, with the original's config.

Usually: a container of the original is created (never started: it keeps
the image's own entrypoint and command), the layer goes in with
put_archive, and commit writes exactly one layer, with the original's
config plus the labels (measured: ~1-3 s here, a COPY build 4-13 s).

Otherwise a build FROM the original: when there is no layer (labels only,
no layer at all), or when the original has neither entrypoint nor cmd.
Docker will not create a container of such an image without a command, and
commit would merge that command into the new image's config.
"""

from __future__ import annotations

import io
import re
import tarfile

from ats_roots import __version__
from ats_roots.errors import BadInput
from ats_roots.patch.layer import Layer
from ats_roots.trust.certs import Cert
from ats_roots.trust.roots import PINS

# Config fields that must come through unchanged.
KEPT = (
    "Entrypoint",
    "Cmd",
    "User",
    "Env",
    "WorkingDir",
    "ExposedPorts",
    "Volumes",
    "StopSignal",
    "Healthcheck",
    "Shell",
)
LABEL_PREFIX = "io.ats-roots."
# docker's reference grammar, simplified: [registry/]name[:tag]
_TAG = re.compile(
    r"^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?$"
)


def check_tag(tag: str) -> None:
    if not _TAG.match(tag):
        raise BadInput(f"--tag {tag}: not a valid image name (e.g. myapp:patched)")


def refuse_onbuild(image) -> None:
    triggers = image.attrs["Config"].get("OnBuild") or []
    if triggers:
        raise BadInput(
            f"{image.id[:19]} has ONBUILD triggers ({triggers[0]}, ...), which building FROM it "
            "would run; patch the image it was built from instead"
        )


def labels(ref: str, image, certs: list[Cert], mode: str) -> dict:
    """OCI-style labels: the roots' fingerprints (as ats-base images carry
    them), any extra CAs, and what the patch was made from."""
    out = {
        LABEL_PREFIX + "roots.sha256": ",".join(
            f"{fn.rsplit('.', 1)[0]}={pin}" for fn, (_, pin) in PINS.items()
        ),
        LABEL_PREFIX + "version": __version__,
        LABEL_PREFIX + "patch.from": f"{ref}@{image.id}",
        LABEL_PREFIX + "patch.mode": mode,
    }
    pinned = {pin for _, pin in PINS.values()}
    extra = [c.sha256 for c in certs if c.sha256 not in pinned]
    if extra:
        out[LABEL_PREFIX + "extra-ca.sha256"] = ",".join(extra)
    return out


def make_image(client, image, layer: Layer, labels: dict):
    config = image.attrs["Config"]
    if layer.files() and (config.get("Entrypoint") or config.get("Cmd")):
        return commit(client, image, layer, labels)
    refuse_onbuild(image)
    return build(client, image, layer, labels)


def commit(client, image, layer: Layer, labels: dict):
    config = dict(image.attrs["Config"])
    config["Labels"] = {**(config.get("Labels") or {}), **labels}
    container = client.containers.create(image.id)  # never started
    try:
        container.put_archive("/", _layer_tar(layer))
        committed = container.commit(message="ats patch: Amazon Trust Services roots", conf=config)
    finally:
        container.remove(force=True, v=True)  # and the VOLUMEs create made
    return client.images.get(committed.id)


def _layer_tar(layer: Layer) -> bytes:
    """Files and symlinks only: a directory entry would reset the mode and
    owner of the image's own directory; missing parents are made 0755 root."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for inner in layer.files():
            info = tar.gettarinfo(layer.host(inner), arcname=inner.lstrip("/"))
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            if info.issym():
                tar.addfile(info)
            else:
                with open(layer.host(inner), "rb") as f:
                    tar.addfile(info, f)
    return out.getvalue()


def build(client, image, layer: Layer, labels: dict):
    """FROM the original, COPY of the layer if it has anything, and the
    labels (config only, no layer)."""
    dockerfile = f"FROM {image.id}\n"
    if layer.files():
        dockerfile += "COPY layer/ /\n"
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(dockerfile)
        tar.addfile(info, io.BytesIO(dockerfile.encode()))
        tar.add(layer.root, arcname="layer", filter=_image_modes(layer))
    context.seek(0)
    new, _ = client.images.build(
        fileobj=context, custom_context=True, labels=labels, rm=True, forcerm=True, pull=False
    )
    return new


def _image_modes(layer: Layer):
    """Directories in the layer keep the image's modes; owners are root."""

    def fix(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = "root"
        inner = "/" + info.name.split("/", 1)[1] if "/" in info.name else "/"
        if info.isdir() and inner in layer.dir_modes:
            info.mode = layer.dir_modes[inner]
        return info

    return fix


def added_layers(original, new) -> tuple[int, int]:
    """(layers added, their size in bytes) from the new image's history."""
    count = len(new.attrs["RootFS"]["Layers"]) - len(original.attrs["RootFS"]["Layers"])
    size = 0
    for entry in new.history():
        if entry.get("Id") == original.id:
            break
        size += entry.get("Size", 0)
    return count, size


# What the Docker Engine gives an image with no Env when it commits or builds
# on it: the PATH every container of the original gets at run time anyway.
DOCKER_DEFAULT_ENV = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]


def config_drift(original, new) -> list[str]:
    """Config fields that differ, and original labels lost or changed. An
    original without Env (e.g. from `docker import`) that comes back with
    Docker's default PATH has not drifted: its containers ran with that PATH."""
    old, cur = original.attrs["Config"], new.attrs["Config"]
    drift = [k for k in KEPT if (old.get(k) or None) != (cur.get(k) or None)]
    if "Env" in drift and not old.get("Env") and cur.get("Env") == DOCKER_DEFAULT_ENV:
        drift.remove("Env")
    old_labels, new_labels = old.get("Labels") or {}, cur.get("Labels") or {}
    drift += [
        f"label {k}"
        for k, v in old_labels.items()
        if not k.startswith(LABEL_PREFIX) and new_labels.get(k) != v
    ]
    return drift


def layer_size_line(count: int, size: int, files: int) -> str:
    if count == 0:
        return "no layer added (nothing to change); labels only"
    return f"{count} layer, {size / 1024:.1f} KiB, {files} files"

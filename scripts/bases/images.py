"""docker import / inspect through the docker CLI (the host needs only python3's stdlib)."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import tarfile
import tempfile
from pathlib import Path

from .recipes import PATH_ENV, Base
from .util import BuildError, run

LABEL_RECIPE = "io.ats-roots.base.recipe"


def _inspect(image: str, field: str) -> str | None:
    """One field of `docker image inspect` (a Go template), or None when there is no such image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", field, image],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


def labels_of(image: str) -> dict | None:
    """The image's labels, or None when there is no such image."""
    out = _inspect(image, "{{json .Config.Labels}}")
    return None if out is None else json.loads(out) or {}


def image_id(image: str) -> str | None:
    return _inspect(image, "{{.Id}}")


def labels_for(base: Base, recipe: str, origin: str, created: str) -> dict:
    labels = {
        "org.opencontainers.image.title": base.title,
        "org.opencontainers.image.created": created,
        "io.ats-roots.base.origin": origin,
        "io.ats-roots.base.flavor": base.flavor,
        "io.ats-roots.base.has-python": base.has_python,
        LABEL_RECIPE: recipe,
    }
    if base.parent:
        labels["org.opencontainers.image.base.name"] = f"ats-local/{base.parent}"
    return labels


def import_tar(base: Base, tar: Path, labels: dict) -> str:
    """docker import the tarball with labels, PATH and CMD; drop the image it replaces."""
    changes = [f"LABEL {key}={_quote(value)}" for key, value in labels.items()]
    changes += [f"ENV PATH={PATH_ENV}", *(f"ENV {env}" for env in base.env), 'CMD ["/bin/sh"]']
    old = image_id(base.image)
    args = ["docker", "import", "--message", f"ats-roots build-bases {base.name}"]
    for change in changes:
        args += ["--change", change]
    new = run([*args, tar, base.image]).strip()
    if base.arch != "amd64":
        new = set_architecture(base.image, base.arch)
    if old and old != new:
        # best effort: fails harmlessly if a container or another tag still uses it
        subprocess.run(["docker", "image", "rm", old], capture_output=True, check=False)
    return new


def _quote(value: str) -> str:
    # Dockerfile LABEL syntax: a JSON string is a valid double-quoted value, but "$"
    # would be expanded and a newline would end the instruction.
    if "$" in value or "\n" in value:
        raise BuildError(f"label value not representable: {value!r}")
    return json.dumps(value)


def image_size(image: str) -> int:
    out = _inspect(image, "{{.Size}}") or ""
    return int(out) if out.isdigit() else 0


# Docker's platform names: GOARCH and, for arm64, the variant it reports.
VARIANTS = {"arm64": "v8"}


def architecture(image: str) -> str | None:
    return _inspect(image, "{{.Architecture}}")


def set_architecture(image: str, arch: str) -> str:
    """Make the image config say `arch`: Docker 20.10's `docker import --platform`
    records amd64 whatever it is told, so save the image, rewrite the config's
    architecture and variant (its file name is its own sha256, and the manifest
    points at it), and load it back under the same tag. Returns the new ID."""
    amd64_id = image_id(image)
    with tempfile.TemporaryDirectory(prefix="ats-bases-arch-") as tmp:
        saved, fixed = Path(tmp) / "saved.tar", Path(tmp) / "fixed.tar"
        run(["docker", "save", "--output", saved, image])
        with tarfile.open(saved) as src, tarfile.open(fixed, "w") as dst:
            manifest = json.load(src.extractfile("manifest.json"))
            (entry,) = manifest
            config = json.load(src.extractfile(entry["Config"]))
            config["architecture"] = arch
            if arch in VARIANTS:
                config["variant"] = VARIANTS[arch]
            blob = json.dumps(config, separators=(",", ":")).encode()
            new_id = hashlib.sha256(blob).hexdigest()
            entry["Config"] = f"{new_id}.json"
            for member in src.getmembers():
                if member.name.endswith(".json") and "/" not in member.name:
                    continue  # manifest.json and the old config, written anew below
                dst.addfile(member, src.extractfile(member) if member.isfile() else None)
            _add(dst, entry["Config"], blob)
            _add(dst, "manifest.json", json.dumps(manifest).encode())
        run(["docker", "load", "--input", fixed])
    if architecture(image) != arch:
        raise BuildError(f"{image}: docker image inspect says {architecture(image)}, not {arch}")
    if amd64_id and amd64_id != image_id(image):
        subprocess.run(["docker", "image", "rm", amd64_id], capture_output=True, check=False)
    return image_id(image)


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    tar.addfile(info, io.BytesIO(data))

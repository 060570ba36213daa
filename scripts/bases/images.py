"""docker import / inspect through the docker CLI (the host needs only python3's stdlib)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .recipes import PATH_ENV, Base
from .util import BuildError, run

LABEL_RECIPE = "io.ats-roots.base.recipe"


def labels_of(image: str) -> dict | None:
    """The image's labels, or None when there is no such image."""
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        return None
    return json.loads(proc.stdout) or {}


def image_id(image: str) -> str | None:
    proc = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Id}}", image],
        capture_output=True,
        text=True,
        check=False,
    )
    return proc.stdout.strip() if proc.returncode == 0 else None


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
    out = subprocess.run(
        ["docker", "image", "inspect", "--format", "{{.Size}}", image],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return int(out) if out.isdigit() else 0

"""The image matrix, shared by scripts/build-images and the matrix tests.

Reads images/matrix.toml; knows the tags each row builds and where results go.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the venv runs 3.11+
    import tomli as tomllib

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPEC = os.path.join(REPO, "images", "matrix.toml")
RESULTS = os.environ.get("ATS_RESULTS_DIR", os.path.join(REPO, "results"))
BUILD_REPORT = os.path.join(RESULTS, "build.json")


@dataclass(frozen=True)
class Row:
    name: str
    flavor: str
    base: str
    noamazon: str | None = None
    tags: tuple[str, ...] = field(default_factory=tuple)
    runtime_from: str | None = None  # row whose Python the checks borrow
    arch: str = "amd64"  # the image's architecture (arm64 rows run under emulation)

    @property
    def image(self) -> str:
        return f"ats-base:{self.name}"

    @property
    def noamazon_image(self) -> str | None:
        """ats-base built on the roots-removed base (the base itself when it has none)."""
        if not self.noamazon:
            return None
        return self.image if self.noamazon == self.base else f"ats-base:{self.name}-noamazon"

    dockerfile = "images/base/Dockerfile"  # one recipe for every flavor


def rows() -> list[Row]:
    with open(SPEC, "rb") as f:
        spec = tomllib.load(f)
    return [
        Row(
            name=r["name"],
            flavor=r["flavor"],
            base=r["base"],
            noamazon=r.get("noamazon"),
            tags=tuple(r.get("tags", ())),
            runtime_from=r.get("runtime_from"),
            arch=r.get("arch", "amd64"),
        )
        for r in spec["image"]
    ]


def tool_image() -> str:
    from ats_roots import __version__

    return f"ats-tool:{__version__}"


def read_build_report() -> dict:
    try:
        with open(BUILD_REPORT, encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return {}


def write_json(path: str, data) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)

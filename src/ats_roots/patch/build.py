"""`ats patch IMAGE --tag NEW`: a new image that trusts the ATS roots,
built from outside the image, whether or not it has Python or a shell.

1. export the image into a sparse copy and audit it;
2. the system store (patch_system): the family's tool in a throwaway
   container of the image, or the no-tool planner where there is no tool;
3. the Java key stores and PEM bundles audit found (patch_stores);
4. one layer on the original, with its config and the roots' labels
   (patch_image), untagged;
5. audit the result: tag it only if no store still misses a root and the
   config came through unchanged; otherwise remove it and say why.

The original image is never changed; the new one differs by one layer.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

from ats_roots.audit.image import audit_image, docker_client, export_sparse, get_image, scratch
from ats_roots.audit.model import MISSING, PINNED, Report
from ats_roots.audit.scan import audit_target
from ats_roots.patch import image as patch_image
from ats_roots.patch.layer import Layer
from ats_roots.patch.stores import patch_stores
from ats_roots.patch.system import patch_system
from ats_roots.system.target import Target
from ats_roots.trust.certs import certs_to_install


@dataclass
class PatchResult:
    image: str
    image_id: str
    tag: str
    family: str = ""
    mode: str = ""
    system: list[str] = field(default_factory=list)  # what the system step did
    stores: list[str] = field(default_factory=list)  # Java stores and bundles changed
    layers_added: int = 0
    layer_bytes: int = 0
    layer_files: list[str] = field(default_factory=list)
    labels: dict = field(default_factory=dict)
    new_id: str = ""
    before: Report | None = None
    after: Report | None = None
    refused: str = ""
    seconds: float = 0.0
    phases: dict = field(default_factory=dict)  # seconds per step, for `make bench`

    @property
    def tagged(self) -> bool:
        return not self.refused

    def still_named(self) -> list[str]:
        """What patch leaves for a person: pinned stores, old SDKs."""
        if self.after is None:
            return []
        out = [
            f"pinned {s.path} ({s.total} root{'' if s.total == 1 else 's'}, none of them ATS)"
            for s in self.after.with_verdict(PINNED)
        ]
        out += [f"old SDK {s.package} {s.version} ({s.path})" for s in self.after.sdks]
        return out

    def lines(self) -> list[str]:
        out = [f"patch  {self.image} ({self.image_id[:19]})"]
        out += [("system " if i == 0 else "       ") + line for i, line in enumerate(self.system)]
        out += [f"store  {line}" for line in self.stores]
        out.append(
            "layer  "
            + patch_image.layer_size_line(
                self.layers_added, self.layer_bytes, len(self.layer_files)
            )
        )
        out += [f"labels {k}={_short(v)}" for k, v in self.labels.items()]
        if self.after is not None:
            c = self.after.counts()
            out.append(f"audit  {c['ok']} stores ok, {c['missing']} missing roots")
            out += [f"       still named: {n}" for n in self.still_named()]
        if self.tagged:
            out.append(f"tagged {self.tag} ({self.new_id[:19]}) in {self.seconds:.1f} s")
        else:
            out.append(f"REFUSED {self.refused}")
        return out

    def to_json(self) -> dict:
        from ats_roots.audit.report import to_json

        return {
            "image": self.image,
            "image_id": self.image_id,
            "tag": self.tag,
            "tagged": self.tagged,
            "refused": self.refused,
            "new_id": self.new_id,
            "family": self.family,
            "mode": self.mode,
            "system": self.system,
            "stores": self.stores,
            "layers_added": self.layers_added,
            "layer_bytes": self.layer_bytes,
            "layer_files": self.layer_files,
            "labels": self.labels,
            "still_named": self.still_named(),
            "seconds": round(self.seconds, 2),
            "phases": {k: round(v, 2) for k, v in self.phases.items()},
            "before": to_json(self.before) if self.before else None,
            "after": to_json(self.after) if self.after else None,
        }


def patch(
    ref: str, tag: str, extra_ca: list[str], password: str | None, no_tool: bool = False
) -> PatchResult:
    start = time.monotonic()
    patch_image.check_tag(tag)
    certs = certs_to_install(extra_ca)  # bad input refused before any docker work
    client = docker_client()
    image = get_image(client, ref)
    result = PatchResult(ref, image.id, tag)
    clock = _Clock(result.phases)
    with scratch("ats-patch-") as tmp:
        sparse = export_sparse(client, image.id, tmp + "/root")
        target = Target(sparse.root)
        result.before = audit_target(
            target,
            password,
            {"image": ref, "id": image.id},
            sparse.stats(),
            frozenset(sparse.left_out),
        )
        clock.lap("export and audit")
        layer = Layer(tmp + "/layer", sparse.dir_modes)
        system = patch_system(client, image, target, certs, result.before, layer, no_tool)
        result.family, result.mode, result.system = system.family, system.mode, system.lines
        clock.lap("system store")
        result.stores = patch_stores(result.before, target, layer, certs, password)
        result.layer_files = layer.files()
        result.labels = patch_image.labels(ref, image, certs, system.mode)
        clock.lap("other stores")
        new = patch_image.make_image(client, image, layer, result.labels)
        clock.lap("new image")
    result.new_id = new.id
    try:
        result.layers_added, result.layer_bytes = patch_image.added_layers(image, new)
        result.after = audit_image(client, new.id, password)
        clock.lap("audit of the result")
        result.refused = _refusal(result, image, new)
        if not result.refused:
            new.tag(*_split_tag(tag))
    finally:
        if result.refused:
            _remove_quietly(client, new.id)
    result.seconds = time.monotonic() - start
    return result


def _short(value: str, width: int = 64) -> str:
    """Label values for people: the fingerprints in full are in --json."""
    return value if len(value) <= width else value[: width - 3] + "..."


class _Clock:
    def __init__(self, phases: dict):
        self.phases, self.last = phases, time.monotonic()

    def lap(self, name: str) -> None:
        now = time.monotonic()
        self.phases[name] = now - self.last
        self.last = now


def _split_tag(tag: str) -> tuple[str, str]:
    """'repo/name:tag' -> ('repo/name', 'tag'); a registry's :port is not a tag."""
    if ":" in tag.rsplit("/", 1)[-1]:
        repository, _, name = tag.rpartition(":")
        return repository, name
    return tag, "latest"


def _remove_quietly(client, image_id: str) -> None:
    """The refused image and its build steps; kept if something else uses it."""
    import docker

    with contextlib.suppress(docker.errors.APIError):
        client.images.remove(image_id, noprune=False)


def _refusal(result: PatchResult, image, new) -> str:
    missing = result.after.with_verdict(MISSING)
    if missing:
        return "still missing roots after the patch: " + ", ".join(s.path for s in missing)
    drift = patch_image.config_drift(image, new)
    if drift:
        return "the new image's config differs from the original's: " + ", ".join(drift)
    if result.layers_added > 1:
        return f"{result.layers_added} layers were added, not one"
    return ""

"""The system trust store of an image, patched from outside.

With its family's tool (and a shell to run it): the anchors go in with
put_archive, the tool runs in a throwaway container of the image as root,
and what it changed (docker diff) is copied into the layer. Without: the
no-tool planner of `ats install` computes the appended bundles and hash
links on the sparse copy, and those files go into the layer. Either way the
image's own entrypoint never runs.
"""

from __future__ import annotations

import dataclasses
import io
import os
import stat
import tarfile

from ats_roots.audit.family import Family, family_of
from ats_roots.audit.image import created
from ats_roots.audit.model import Report
from ats_roots.audit.sparse import ChunkStream
from ats_roots.errors import BadInput, EnvRefuses
from ats_roots.patch.layer import Layer, check_member
from ats_roots.system.families.notool import NoTool
from ats_roots.system.layout import MANIFEST
from ats_roots.system.plan import apply
from ats_roots.system.target import TOOL_TIMEOUT, Target
from ats_roots.trust.certs import Cert

# Paths a container run touches that are not the tool's work.
NOT_THE_TOOL = ("/tmp/", "/var/tmp/", "/run/", "/dev/", "/proc/", "/sys/")
DOCKER_MOUNTS = ("/etc/hostname", "/etc/hosts", "/etc/resolv.conf")


@dataclasses.dataclass
class SystemPatch:
    family: str
    mode: str  # "tool" or "notool"
    lines: list[str]


def patch_system(
    client, image, target: Target, certs: list[Cert], before: Report, layer: Layer, no_tool: bool
) -> SystemPatch:
    family = family_of(target)
    system = [s for s in before.stores if s.group == "system"]
    wanted = {c.sha256 for c in certs}
    if system and all(wanted <= s.shas for s in system):
        return SystemPatch(family.name, "none", [f"{family.name}: already trusts every root"])
    shell = _missing_interpreter(target, family.tool) if family.tool else None
    if family.tool and not no_tool and shell is None:
        return _with_tool(client, image, target, family, certs, layer)
    why = (
        "--no-tool"
        if no_tool and family.tool
        else f"{family.tool} needs {shell}, which the image lacks"
        if shell
        else family.why or f"{family.name}: no CA tool in the image"
    )
    return _without_tool(target, family, certs, layer, why)


def _missing_interpreter(target: Target, tool: str) -> str | None:
    """The #! interpreter of a tool script, if the image does not have it
    (read through the safe path: the sparse copy is the image's layout)."""
    try:
        first = (target.read(tool) or b"").split(b"\n", 1)[0][:256]
    except OSError:
        return tool
    if not first.startswith(b"#!") or not first[2:].split():
        return None  # a binary
    interpreter = first[2:].split()[0].decode("utf-8", "replace")
    return None if target.find_tool([interpreter]) else interpreter


def _with_tool(client, image, target: Target, family: Family, certs, layer: Layer):
    plan = family.impl.plan_install(target, certs, set())
    # The anchors (and ats's manifest, for `ats uninstall` inside) are written
    # on the sparse copy first, then handed to the container as a tar.
    apply(plan.replace(commands=[]))
    put = [w.path for w in plan.writes] + [MANIFEST]
    command = plan.commands[0] if plan.commands else family.impl.command(target)
    user = {"user": "0"} if image.attrs["Config"].get("User") else {}
    with created(
        client,
        image.id,
        entrypoint=command[:1],
        command=command[1:],
        network_disabled=True,
        environment={"LC_ALL": "C"},
        **user,
    ) as container:
        container.put_archive("/", _tar_of(target, put))
        container.start()
        status = _wait(container, command, image)
        output = container.logs(stdout=True, stderr=True).decode("utf-8", "replace").strip()
        if status.get("StatusCode") != 0:
            last = (output.splitlines() or ["no output"])[-1]
            raise EnvRefuses(
                f"{' '.join(command)} failed in a container of {image.id[:19]} "
                f"(exit {status.get('StatusCode')}): {last}; retry with --no-tool"
            )
        changed, removed = _changes(container.diff())
        for inner in changed:
            stream, _ = container.get_archive(inner)
            try:
                _unpack_one(stream, inner, layer)
            finally:
                # A member refused by its header leaves the rest unread, and
                # the daemon keeps the container locked (its removal hangs)
                # until the archive's connection is closed.
                stream.close()
    lines = [
        f"{family.name}: ran {' '.join(command)} in a throwaway container as root",
        f"  {len(plan.writes)} anchors put in {family.impl.layout.anchor_dir}",
        f"  the tool changed {len(changed)} files",
    ]
    lines += [f"  note: the tool removed {p}; a layer on top cannot, so it stays" for p in removed]
    return SystemPatch(family.name, "tool", lines)


def _wait(container, command: list[str], image) -> dict:
    """The tool's exit status; a tool that never ends (one that writes to a
    FIFO the image left as its bundle, or sleeps) is stopped at the timeout
    (ATS_TOOL_TIMEOUT, as for `ats install`) and refused in one line."""
    import requests

    try:
        return container.wait(timeout=TOOL_TIMEOUT)
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
        if "timed out" not in str(exc):  # the daemon itself went away
            raise
        raise EnvRefuses(
            f"{' '.join(command)} ran longer than {TOOL_TIMEOUT:g} s in a container of "
            f"{image.id[:19]}; stopped it (retry with --no-tool)"
        ) from None


def _without_tool(target: Target, family: Family, certs, layer: Layer, why: str):
    # Where the image's OpenSSL reads, as audit found it.
    impl = NoTool(family.openssl_dir, why=why)
    plan = impl.plan_install(target, certs, set())
    apply(plan)  # on the sparse copy: no commands in a no-tool plan
    paths = [w.path for w in plan.writes] + [k.path for k in plan.links] + [MANIFEST]
    for inner in paths:
        resolved = target.resolve(os.path.dirname(inner)) + "/" + os.path.basename(inner)
        layer.copy_from(target.fs, resolved)
    lines = [f"{family.name}: no tool run ({why}); bundles and hash links written directly"]
    lines += [f"  {line}" for line in plan.lines()[1:] if not line.startswith("note:")]
    return SystemPatch(family.name, "notool", lines)


def _changes(diff: list[dict]) -> tuple[list[str], list[str]]:
    """Leaves of docker diff (a changed directory lists its changed children
    too), without what any container run touches."""
    paths = sorted(d["Path"] for d in diff or [] if d["Kind"] in (0, 1))
    removed = sorted(d["Path"] for d in diff or [] if d["Kind"] == 2)
    keep = [p for p in paths if not _run_noise(p)]
    leaves = [
        p for i, p in enumerate(keep) if not any(q.startswith(p + "/") for q in keep[i + 1 :])
    ]
    return leaves, [p for p in removed if not _run_noise(p)]


def _run_noise(path: str) -> bool:
    return path in DOCKER_MOUNTS or (path + "/").startswith(NOT_THE_TOOL)


def _unpack_one(stream, inner: str, layer: Layer) -> None:
    """get_archive's tar holds the entry under its base name (a directory with
    its contents): put it back at inner. Every member is checked first
    (layer.check_member) and a name seen twice is refused. Read as a stream,
    a member at a time: a member past the bound is refused by its header,
    before its bytes are read (joined whole, a 3 GiB file the image's tool
    left took 6 GB of memory before the refusal)."""
    base = os.path.basename(inner)
    seen: set[str] = set()
    data = io.BufferedReader(ChunkStream(stream), 1 << 20)
    with tarfile.open(fileobj=data, mode="r|") as tar:
        for member in tar:
            check_member(member)
            name = member.name.rstrip("/")
            if name in seen:
                raise BadInput(f"image member {member.name!r}: appears twice; refused")
            seen.add(name)
            if name == base or name.startswith(base + "/"):
                layer.add_member(tar, member, os.path.dirname(inner) + "/" + name)


def _tar_of(target: Target, inners: list[str]) -> bytes:
    """The files at inners in the sparse copy, as a tar for put_archive: read
    through the safe path, named as the image resolves them."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for inner in inners:
            resolved = target.resolve(inner)
            data = target.read(resolved)
            if data is None:
                continue
            info = tarfile.TarInfo(resolved.lstrip("/"))
            info.size = len(data)
            info.mode = stat.S_IMODE(target.lstat(resolved).st_mode)
            info.uid = info.gid = 0
            info.uname = info.gname = "root"
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()

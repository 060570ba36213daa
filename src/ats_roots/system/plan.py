"""The plan (every file written, every command run) and its executor.

A family module says where anchors go and which tool compiles them; this
module turns that into a plan (every file written, every command run), and
carries it out atomically and only ever adding what was not there.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from ats_roots import _portable
from ats_roots.errors import EnvRefuses
from ats_roots.system.target import Target

MANIFEST = "/var/lib/ats-roots/manifest"
LOCK = "/var/lib/ats-roots/lock"


@dataclass
class Write:
    path: str  # inside the target
    data: bytes
    why: str
    mode: int = 0o644


@dataclass
class Link:
    path: str  # inside the target
    points_to: str
    why: str


@dataclass
class Plan:
    family: str
    target: Target
    writes: list[Write] = field(default_factory=list)
    links: list[Link] = field(default_factory=list)
    removes: list[str] = field(default_factory=list)
    commands: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    manifest: list[str] = field(default_factory=list)  # records to add
    forget: list[str] = field(default_factory=list)  # paths whose records go

    @property
    def empty(self) -> bool:
        return not (self.writes or self.links or self.removes or self.commands)

    def lines(self) -> list[str]:
        out = [f"family: {self.family} (root {self.target.root})"]
        out += [f"write {w.path} ({len(w.data)} bytes, {w.why})" for w in self.writes]
        out += [f"link {k.path} -> {k.points_to} ({k.why})" for k in self.links]
        out += [f"remove {r}" for r in self.removes]
        out += ["run " + " ".join(c) for c in self.commands]
        out += [f"note: {n}" for n in self.notes]
        if self.empty:
            out.append("nothing to do: already in place")
        return out

    def to_json(self) -> dict:
        return {
            "family": self.family,
            "root": self.target.root,
            "writes": [{"path": w.path, "bytes": len(w.data), "why": w.why} for w in self.writes],
            "links": [{"path": k.path, "to": k.points_to} for k in self.links],
            "removes": list(self.removes),
            "commands": [list(c) for c in self.commands],
            "notes": list(self.notes),
        }


def read_manifest(target: Target) -> list[tuple[str, ...]]:
    """Records of what earlier installs added: ('anchor', path, sha) and so on."""
    try:
        with open(target.path(MANIFEST), encoding="utf-8") as f:
            return [tuple(line.split("\t")) for line in f.read().splitlines() if line]
    except FileNotFoundError:
        return []


def apply(plan: Plan, on_change=None) -> list[str]:
    """Carry out a plan; returns the output of the commands it ran.

    Paths are followed as the target sees them, so an absolute symlink in an
    image never sends a write outside its root. File changes are all or
    nothing: if one fails, those already made are put back as they were."""
    target = plan.target
    undo: list[tuple] = []
    try:
        for w in plan.writes:
            host = target.path(target.resolve(w.path))
            _makedirs(os.path.dirname(host), undo)
            undo.append(_saved(host))
            _portable.atomic_write(host, w.data, w.mode)
        for k in plan.links:
            host = _host_entry(target, k.path)
            undo.append(_saved(host))
            if os.path.lexists(host):
                os.unlink(host)
            os.symlink(k.points_to, host)
        for inner in plan.removes:
            host = _host_entry(target, inner)
            undo.append(_saved(host))
            if os.path.lexists(host):
                os.unlink(host)
        _update_manifest(plan)
    except OSError as exc:
        _restore(undo)
        where = exc.filename2 or exc.filename or target.root  # a rename: its destination
        if _portable.is_readonly_error(exc):
            raise EnvRefuses(
                f"{where}: {exc.strerror}; run as root on a writable "
                "file system, or use the hook's private bundle (ats-hook)"
            ) from None
        raise EnvRefuses(f"{where}: {exc.strerror}; nothing was changed") from None
    outputs = []
    for argv in plan.commands:
        proc = target.run(argv)
        outputs.append((proc.stdout + proc.stderr).strip())
        if proc.returncode != 0:
            raise EnvRefuses(
                f"{' '.join(argv)} failed with exit {proc.returncode}: "
                + (proc.stderr.strip().splitlines() or ["no output"])[-1]
            )
    return outputs


def _host_entry(target: Target, inner: str) -> str:
    """Host path of a directory entry itself (a link to replace or remove):
    its directory resolved inside the target, its last part not followed."""
    parent, name = os.path.split(inner)
    return os.path.join(target.path(target.resolve(parent)), name)


def _saved(host: str) -> tuple:
    """What is at host now, for _restore."""
    if os.path.islink(host):
        return (host, "link", os.readlink(host))
    if os.path.isfile(host):
        with open(host, "rb") as f:
            return (host, "file", f.read(), os.stat(host).st_mode & 0o7777)
    return (host, "absent" if not os.path.lexists(host) else "other")


def _makedirs(host_dir: str, undo: list) -> None:
    missing = []
    while host_dir and not os.path.lexists(host_dir):
        missing.append(host_dir)
        host_dir = os.path.dirname(host_dir)
    for d in reversed(missing):
        os.mkdir(d, 0o755)
        undo.append((d, "dir"))


def _restore(undo: list) -> None:
    """Put back what _saved recorded, newest first; best effort."""
    for host, kind, *saved in reversed(undo):
        with contextlib.suppress(OSError):
            if kind == "dir":
                os.rmdir(host)
            elif kind == "file":
                _portable.atomic_write(host, saved[0], saved[1])
            elif kind in ("link", "absent"):
                if os.path.islink(host) or os.path.isfile(host):
                    os.unlink(host)
                if kind == "link":
                    os.symlink(saved[0], host)


def _update_manifest(plan: Plan) -> None:
    if not (plan.manifest or plan.forget):
        return
    records = ["\t".join(r) for r in read_manifest(plan.target)]
    forget = set(plan.forget)
    kept = [r for r in records if r.split("\t")[1] not in forget]
    for line in plan.manifest:
        if line not in kept:
            kept.append(line)
    data = ("\n".join(kept) + "\n").encode() if kept else b""
    host = plan.target.path(MANIFEST)
    if os.path.exists(host):
        with open(host, "rb") as f:
            if f.read() == data:
                return
    os.makedirs(os.path.dirname(host), 0o755, exist_ok=True)
    _portable.atomic_write(host, data)

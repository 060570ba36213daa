"""The plan (every file written, every command run) and its executor.

A family module says where anchors go and which tool compiles them; this
module turns that into a plan (every file written, every command run), and
carries it out atomically and only ever adding what was not there.

Check everything, then change anything: apply() first asks every question
whose answer could refuse the plan (a path that leads nowhere safe, a
read-only or foreign directory, too little space, a tool that cannot run),
then writes every new file as a synced temp file beside its destination,
and only then renames them into place. A refusal before that point leaves
the target byte-identical; a failure after it puts back what was there.
Every change goes through the target's safepath.Root.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass, field

from ats_roots import _portable
from ats_roots.errors import EnvRefuses
from ats_roots.system import safepath
from ats_roots.system.layout import (  # noqa: F401 - LOCK: for callers
    AFTER_INTERRUPTED,
    LOCK,
    MANIFEST,
    TOOL_LEFTOVERS,
    TOOL_RUNNING,
)
from ats_roots.system.target import Target, refusing


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
    data = target.read(MANIFEST)
    if data is None:
        return []
    return [tuple(line.split("\t")) for line in data.decode("utf-8").splitlines() if line]


SPACE_MARGIN = 1 << 20  # a bundle rewritten needs room for both copies; and some slack


def preflight(plan: Plan, also: tuple[str, ...] = (), dry_run: bool = False) -> None:
    """Every reason to refuse plan (and writing the inner dirs in also), found
    before its first write; raises EnvRefuses with one line, changes nothing.
    dry_run: a command that could not run becomes a note, not a refusal (the
    plan is still worth reading, and the tree may be copied to where it runs)."""
    target = plan.target
    need: dict[str, int] = {}  # inner dir -> bytes staged there
    for w in plan.writes:
        resolved = target.resolve(w.path)
        st = target.lstat(resolved)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise EnvRefuses(
                f"{target.path(w.path)}: is {safepath.kind_of(st.st_mode)} where ats writes "
                "a file; nothing was changed"
            )
        parent = os.path.dirname(resolved)
        need[parent] = need.get(parent, 0) + len(w.data)
    for inner in [k.path for k in plan.links] + list(plan.removes):
        parent = target.resolve(os.path.dirname(inner))
        need.setdefault(parent, 0)
    if plan.manifest or plan.forget:
        need.setdefault(os.path.dirname(target.resolve(MANIFEST)), 4096)
    for inner in also:
        need.setdefault(target.resolve(inner), 0)
    free: dict[int, list] = {}  # device -> [free bytes, bytes needed, a dir on it]
    for inner_dir, size in sorted(need.items()):
        device, avail, problem = refusing(target.fs.probe_dir, inner_dir)
        if problem:
            raise EnvRefuses(
                f"{target.path(inner_dir)}: {problem}; run as root on a writable file system, "
                "or use the hook's private bundle (ats-hook); nothing was changed"
            )
        entry = free.setdefault(device, [avail, 0, inner_dir])
        entry[1] += size
    for avail, size, inner_dir in free.values():
        if size and avail < size + SPACE_MARGIN:
            raise EnvRefuses(
                f"{target.path(inner_dir)}: no space left ({avail} bytes free, ats needs "
                f"{size + SPACE_MARGIN}); nothing was changed"
            )
    for argv in plan.commands:
        why = target.why_cannot_run(argv)
        if why and dry_run:
            plan.notes.append(f"install would refuse: {why}")
        elif why:
            raise EnvRefuses(why + "; nothing was changed")


def apply(plan: Plan, on_change=None, checked: bool = False) -> list[str]:
    """Carry out a plan; returns the output of the commands it ran.

    Paths are followed as the target sees them, so an absolute symlink in an
    image never sends a write outside its root. File changes are all or
    nothing: if one fails, those already made are put back as they were."""
    target = plan.target
    fs = target.fs
    if not checked:
        preflight(plan)
    manifest = _manifest_data(plan)
    for inner_dir in {os.path.dirname(target.resolve(w.path)) for w in plan.writes}:
        fs.remove_stale_temps(inner_dir)  # a killed run's; installs hold the lock
    created: list[str] = []
    staged: list = []
    undo: list[tuple] = []
    try:
        try:
            for w in plan.writes:
                staged.append(fs.stage(w.path, w.data, w.mode, created))
            if manifest is not None:
                staged.append(fs.stage(MANIFEST, manifest, 0o644, created))
        except BaseException:
            for s in staged:
                s.discard()
            remove_created(fs, created)
            raise
        for s in staged:
            undo.append(_saved(fs, s.inner))
            s.commit()
        for k in plan.links:
            undo.append(_saved(fs, k.path))
            fs.symlink(k.path, k.points_to, created)
        for inner in plan.removes:
            undo.append(_saved(fs, inner))
            fs.unlink(inner)
    except (OSError, safepath.Refused) as exc:
        for s in staged:
            if s.tmp is not None:
                s.discard()
        _restore(fs, undo)
        remove_created(fs, created)
        if isinstance(exc, safepath.Refused):
            raise EnvRefuses(str(exc)) from None
        where = exc.filename2 or exc.filename or target.root  # a rename: its destination
        if _portable.is_readonly_error(exc):
            raise EnvRefuses(
                f"{where}: {exc.strerror}; run as root on a writable "
                "file system, or use the hook's private bundle (ats-hook)"
            ) from None
        raise EnvRefuses(f"{where}: {exc.strerror}; nothing was changed") from None
    outputs = []
    interrupted = False
    try:
        if plan.commands:
            interrupted = fs.lstat(TOOL_RUNNING) is not None  # the last run died in the tool
            if not interrupted:
                fs.replace(TOOL_RUNNING, b"", 0o644, created)
        for n, argv in enumerate(plan.commands):
            for inner in TOOL_LEFTOVERS.get(os.path.basename(argv[0]), ()):
                fs.unlink(target.resolve(inner))  # under the lock: no run of ours is using it
            if interrupted and n == 0:
                argv = [*argv, *AFTER_INTERRUPTED.get(plan.family, ())]
            proc = target.run(argv)
            outputs.append((proc.stdout + proc.stderr).strip())
            if proc.returncode != 0:
                raise EnvRefuses(
                    f"{' '.join(argv)} failed with exit {proc.returncode}: "
                    + (proc.stderr.strip().splitlines() or ["no output"])[-1]
                    + "; ats's files were put back"
                )
    except EnvRefuses:
        # The store stays as it was rather than half done: anchors nobody compiled.
        _restore(fs, undo)
        fs.unlink(TOOL_RUNNING)
        remove_created(fs, created)
        raise
    if plan.commands:
        fs.unlink(TOOL_RUNNING)
    outputs += target.notes
    return outputs


def _saved(fs: safepath.Root, inner: str) -> tuple:
    """What is at inner now (the entry itself), for _restore."""
    st = fs.lstat(inner)
    if st is None:
        return (inner, "absent")
    if stat.S_ISLNK(st.st_mode):
        return (inner, "link", fs.readlink(inner))
    if stat.S_ISREG(st.st_mode):
        return (inner, "file", fs.read(fs.resolve(inner)), stat.S_IMODE(st.st_mode))
    return (inner, "other")


def _restore(fs: safepath.Root, undo: list) -> None:
    """Put back what _saved recorded, newest first; best effort."""
    for inner, kind, *saved in reversed(undo):
        with contextlib.suppress(OSError, safepath.Refused):
            if kind == "file":
                fs.replace(inner, saved[0], saved[1])
            elif kind in ("link", "absent"):
                st = fs.lstat(inner)
                if st is not None and not stat.S_ISDIR(st.st_mode):
                    fs.unlink(inner)
                if kind == "link":
                    fs.symlink(inner, saved[0])


def remove_created(fs: safepath.Root, created: list) -> None:
    for inner in reversed(created):
        with contextlib.suppress(OSError, safepath.Refused):
            if not fs.rmdir(inner):  # the lock file, made for this run
                fs.unlink(inner)


def _manifest_data(plan: Plan) -> bytes | None:
    """The manifest's new bytes, or None when it stays as it is."""
    if not (plan.manifest or plan.forget):
        return None
    records = ["\t".join(r) for r in read_manifest(plan.target)]
    forget = set(plan.forget)
    kept = [r for r in records if r.split("\t")[1] not in forget]
    for line in plan.manifest:
        if line not in kept:
            kept.append(line)
    data = ("\n".join(kept) + "\n").encode() if kept else b""
    return None if plan.target.read(MANIFEST) == data else data

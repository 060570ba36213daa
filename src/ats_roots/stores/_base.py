"""What every trust-store family shares: the target, the plan, the executor.

A family module says where anchors go and which tool compiles them; this
module turns that into a plan (every file written, every command run), and
carries it out atomically and only ever adding what was not there.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
from dataclasses import dataclass, field

from .. import _portable
from ..errors import BadInput, EnvRefuses

MANIFEST = "/var/lib/ats-roots/manifest"
LOCK = "/var/lib/ats-roots/lock"


@dataclass(frozen=True)
class Cert:
    """A certificate to install: a pinned root or a checked extra CA."""

    slug: str  # file-name stem, e.g. ats-AmazonRootCA1
    name: str
    sha256: str
    pem: bytes
    der: bytes


class Target:
    """A root file system: '/' for this system, or an unpacked image at DIR."""

    def __init__(self, root: str = "/"):
        if not os.path.isdir(root):
            raise BadInput(f"{root}: no such directory; give --root the top of a root file system")
        self.root = os.path.abspath(root)

    @property
    def is_host(self) -> bool:
        return self.root == "/"

    def path(self, inner: str) -> str:
        """Host path of an absolute path inside the target."""
        return os.path.join(self.root, inner.lstrip("/"))

    def resolve(self, inner: str) -> str:
        """Follow symlinks as the target sees them (absolute links stay inside it)."""
        parts = [p for p in inner.split("/") if p]
        resolved: list[str] = []
        hops = 0
        while parts:
            part = parts.pop(0)
            if part == "..":
                if resolved:
                    resolved.pop()
                continue
            candidate = "/" + "/".join(resolved + [part])
            host = self.path(candidate)
            if os.path.islink(host) and hops < 40:
                hops += 1
                link = os.readlink(host)
                if link.startswith("/"):
                    resolved = []
                parts = [p for p in link.split("/") if p] + parts
                continue
            resolved.append(part)
        return "/" + "/".join(resolved)

    def exists(self, inner: str) -> bool:
        return os.path.lexists(self.path(inner))

    def os_release(self) -> dict:
        for inner in ("/etc/os-release", "/usr/lib/os-release"):
            host = self.path(self.resolve(inner))
            if os.path.exists(host):  # a directory there is unreadable, not missing
                try:
                    with open(host, encoding="utf-8", errors="replace") as f:
                        return _portable.parse_os_release(f.read())
                except OSError as exc:
                    raise BadInput(f"{self.path(inner)}: unreadable ({exc.strerror})") from None
        raise BadInput(
            f"{self.path('/etc/os-release')}: missing; cannot tell the distribution "
            "(pass --family to choose one)"
        )

    def find_tool(self, candidates) -> str | None:
        for inner in candidates:
            host = self.path(inner)
            if os.path.isfile(host) and os.access(host, os.X_OK):
                return inner
        return None

    def can_run(self) -> bool:
        return self.is_host or os.geteuid() == 0

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run a command of the target's own, inside it (chroot) when not the host."""
        if not self.can_run():
            raise EnvRefuses(
                f"not root, so cannot chroot into {self.root}; run there as root: "
                + " ".join(["chroot", self.root, *argv])
            )
        full = list(argv) if self.is_host else ["chroot", self.root, *argv]
        # Debian's update-ca-certificates writes its temp files under $TMPDIR.
        env = dict(os.environ, TMPDIR="/tmp", LC_ALL="C")
        with self._dev_null():
            return subprocess.run(full, capture_output=True, text=True, env=env, check=False)

    @contextlib.contextmanager
    def _dev_null(self):
        """The distro tools redirect to /dev/null. An unpacked image may lack it,
        and inside a docker build (nodev mounts, fuse-overlayfs) the node copied
        from the base cannot be opened. Lend a working one for the run: a real
        node where mknod works, else an empty file; put back what was there."""
        node = self.path("/dev/null")
        if self.is_host or not os.path.isdir(self.path("/dev")) or _writable(node):
            yield
            return
        saved = node + ".ats-saved"
        if os.path.lexists(node):
            os.rename(node, saved)
        try:
            with contextlib.suppress(OSError):
                os.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            if not _writable(node):
                if os.path.lexists(node):
                    os.unlink(node)
                open(node, "wb").close()
            yield
        finally:
            if os.path.lexists(node):
                os.unlink(node)
            if os.path.lexists(saved):
                os.rename(saved, node)


def _writable(path: str) -> bool:
    """Can path be opened for writing? Never creates or truncates it."""
    try:
        os.close(os.open(path, os.O_WRONLY))
        return True
    except OSError:
        return False


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

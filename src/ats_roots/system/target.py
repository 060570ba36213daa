"""The target: a root file system ats acts on ('/' or an unpacked image),
and what ats may learn from it or run in it."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess

from ats_roots import _portable
from ats_roots.errors import BadInput, EnvRefuses


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

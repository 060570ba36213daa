"""The target: a root file system ats acts on ('/' or an unpacked image),
and what ats may learn from it or run in it.

Every path inside a target is reached through system/safepath.py (one
directory fd at a time, links resolved as the target sees them); this
module maps its refusals to exit 3. Only `install` and `uninstall` ever run
a program of the target's (its distribution's CA tool), through run().
"""

from __future__ import annotations

import contextlib
import os
import signal
import stat

from ats_roots.errors import BadInput, EnvRefuses
from ats_roots.system import _core, safepath
from ats_roots.system._core import TOOL_ENV  # the hook runs its tool the same way

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms)
if TYPE_CHECKING:
    import subprocess  # imported where a tool runs: verify and --dry-run run none

# update-ca-trust on a slow disk: tens of seconds; a hung tool: never.
TOOL_TIMEOUT = float(os.environ.get("ATS_TOOL_TIMEOUT", "300"))
UNSHARE = ["unshare", "--mount", "--pid", "--ipc", "--net", "--fork", "--kill-child"]
_ISOLATION: list = []  # probed once: [True] or [reason it is not available]


class Target:
    """A root file system: '/' for this system, or an unpacked image at DIR."""

    def __init__(self, root: str = "/"):
        if not os.path.isdir(root):
            raise BadInput(f"{root}: no such directory; give --root the top of a root file system")
        self.root = os.path.abspath(root)
        try:
            self.fs = safepath.Root(self.root)
        except OSError as exc:
            raise EnvRefuses(f"{root}: cannot open ({exc.strerror})") from None
        self.notes: list[str] = []  # said once, with the install's output

    @property
    def is_host(self) -> bool:
        return self.root == "/"

    def path(self, inner: str) -> str:
        """Host path of an absolute path inside the target (for messages and
        reads of a path already resolve()d; never for a write)."""
        return os.path.join(self.root, inner.lstrip("/"))

    def resolve(self, inner: str) -> str:
        """Follow symlinks as the target sees them (absolute links stay inside it)."""
        return refusing(self.fs.resolve, inner)

    def read(self, inner: str) -> bytes | None:
        """A regular file's bytes, links followed inside the target; None if absent."""
        try:
            return refusing(self.fs.read, inner)
        except (FileNotFoundError, NotADirectoryError):
            return None

    def lstat(self, inner: str):
        return refusing(self.fs.lstat, inner)

    def stat(self, inner: str):
        """os.stat of inner, links followed inside the target; None if absent."""
        return self.lstat(self.resolve(inner))

    def exists(self, inner: str) -> bool:
        return self.lstat(inner) is not None

    def os_release(self) -> dict:
        from ats_roots import _portable

        for inner in ("/etc/os-release", "/usr/lib/os-release"):
            try:
                data = self.read(inner)
            except IsADirectoryError:  # a directory there is unreadable, not missing
                raise BadInput(f"{self.path(inner)}: unreadable (a directory)") from None
            except OSError as exc:
                raise BadInput(f"{self.path(inner)}: unreadable ({exc.strerror})") from None
            if data is not None:
                return _portable.parse_os_release(data.decode("utf-8", "replace"))
        raise BadInput(
            f"{self.path('/etc/os-release')}: missing; cannot tell the distribution "
            "(pass --family to choose one)"
        )

    def find_tool(self, candidates) -> str | None:
        return _core.find_tool(self, candidates)

    def can_run(self) -> bool:
        return self.is_host or os.geteuid() == 0

    def why_cannot_run(self, argv: list[str]) -> str | None:
        """Why run(argv) would fail before it starts, or None: asked before
        the first write, so that a refusal leaves the target as it was."""
        if not self.can_run():
            return (
                f"not root, so cannot chroot into {self.root}; run as root: "
                + " ".join(["chroot", self.root, *argv])
            )
        tool = self.stat(argv[0]) if argv[0].startswith("/") else None
        if argv[0].startswith("/") and (tool is None or not stat.S_ISREG(tool.st_mode)):
            return f"{self.path(argv[0])}: missing; install the distro's CA package there"
        if tool is not None and not tool.st_mode & 0o111:
            return f"{self.path(argv[0])}: not executable"
        dev = None if self.is_host else self.lstat("/dev")
        if dev is not None and not stat.S_ISDIR(dev.st_mode):
            return (
                f"{self.path('/dev')}: is {safepath.kind_of(dev.st_mode)}, not a directory, "
                "so the tool would have no /dev/null"
            )
        interpreter = self._interpreter(argv[0]) if tool is not None else None
        if interpreter and self.find_tool([interpreter]) is None:
            return f"{self.path(argv[0])} needs {interpreter}, which {self.root} lacks"
        return None

    def _interpreter(self, inner: str) -> str | None:
        try:
            head = refusing(self.fs.read, inner, 256)
        except OSError:
            return None
        if not head.startswith(b"#!") or not head[2:].split():
            return None
        return head[2:].split()[0].decode("utf-8", "replace")

    def run(self, argv: list[str]) -> subprocess.CompletedProcess:
        """Run a command of the target's own, inside it (chroot) when not the
        host: environment PATH and LANG only, stdin closed, a timeout, and new
        mount, PID, IPC and network namespaces where the host allows them (so
        that nothing it starts outlives it and it reaches no network)."""
        why = self.why_cannot_run(argv)
        if why:
            raise EnvRefuses(why)
        full = list(argv) if self.is_host else ["chroot", self.root, *argv]
        isolated = isolation()
        if isolated is True:
            full = UNSHARE + full
        elif f"note: {isolated}" not in self.notes:
            self.notes.append(f"note: {isolated}")
        import subprocess

        with self._dev_null():
            proc = subprocess.Popen(
                full,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                env=dict(TOOL_ENV),
                start_new_session=True,  # its whole group goes on a timeout
            )
            try:
                out, err = proc.communicate(timeout=TOOL_TIMEOUT)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise EnvRefuses(
                    f"{' '.join(argv)} ran longer than {TOOL_TIMEOUT:g} s in {self.root}; "
                    "stopped it"
                ) from None
            _kill_group(proc)  # a daemon it left behind (without a PID namespace)
            text = [b.decode("utf-8", "replace") for b in (out, err)]
            return subprocess.CompletedProcess(full, proc.returncode, *text)

    @contextlib.contextmanager
    def _dev_null(self):
        """The distro tools redirect to /dev/null. An unpacked image may lack it,
        and inside a docker build (nodev mounts, fuse-overlayfs) the node copied
        from the base cannot be opened. Lend a working one for the run: a real
        node where mknod works, else an empty file; put back what was there.
        All of it through the safe path: /dev may be a link in a hostile tree."""
        if self.is_host:
            yield
            return
        made = []
        if self.lstat("/dev") is None:  # an image with no /dev at all: lend one
            refusing(self.fs.makedirs, "/dev", 0o755, made)
        try:
            with self._null_in_dev():
                yield
        finally:
            for inner in reversed(made):
                self.fs.rmdir(inner)

    @contextlib.contextmanager
    def _null_in_dev(self):
        # Whether a node is there is asked of /dev's listing, never of a stat:
        # on fuse-overlayfs (a docker build or run over an unpacked tree) a
        # device node once moved gives EIO on stat (tests/test_dev_null_docker.py).
        node, saved = "/dev/null", "/dev/null.ats-saved"
        if "null.ats-saved" in self._dev_names():  # a run killed while it lent one
            self.fs.unlink(node)
            self.fs.rename(saved, "null")
        if _usable_null(self.fs):
            yield
            return
        moved = "null" in self._dev_names()
        if moved:
            self.fs.rename(node, "null.ats-saved")
        try:
            with contextlib.suppress(OSError):
                self.fs.mknod(node, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
            if not _usable_null(self.fs):  # a node that cannot be opened (nodev, EIO)
                self.fs.unlink(node)
                self.fs.create_empty(node)
            yield
        finally:
            self.fs.unlink(node)
            if moved:
                self.fs.rename(saved, "null")

    def _dev_names(self) -> set:
        return set(refusing(self.fs.listdir, "/dev"))


def refusing(function, *args):
    """Call a safepath function; its refusal becomes exit 3 with its one line."""
    try:
        return function(*args)
    except safepath.Refused as exc:
        raise EnvRefuses(str(exc)) from None


def _usable_null(fs: safepath.Root) -> bool:
    """Can /dev/null be opened for writing, and is it a device or a plain
    file (not a FIFO that would block the tool)? Never creates or truncates."""
    fd = fs.open_writable("/dev/null")
    if fd is None:
        return False
    try:
        mode = os.fstat(fd).st_mode
        return stat.S_ISCHR(mode) or stat.S_ISREG(mode)
    finally:
        os.close(fd)


def _kill_group(proc: subprocess.Popen) -> None:
    import subprocess

    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def isolation():
    """True if this host lets us make new namespaces for a tool, else why not."""
    if not _ISOLATION:
        import subprocess

        try:
            probe = subprocess.run(
                [*UNSHARE, "true"],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                env=dict(TOOL_ENV),
                timeout=10,
                check=False,
            )
            ok = probe.returncode == 0
            why = (probe.stderr.decode("utf-8", "replace").strip().splitlines() or ["failed"])[-1]
        except (OSError, subprocess.TimeoutExpired) as exc:
            ok, why = False, str(exc)
        _ISOLATION.append(
            True
            if ok
            else f"the host allows no new namespaces ({why}): the tool ran with a scrubbed "
            "environment and a timeout, but shares this host's network and processes"
        )
    return _ISOLATION[0]

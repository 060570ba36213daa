"""A sparse copy of an image's file system, made from its export stream.

Only what audit and patch read is written out: candidate trust stores (by
name, then by their first bytes), every directory and symlink (so paths
resolve as the image sees them), os-release, the CA tools, metadata of old
SDKs, mail programs' configs, any PEM file under /etc (a mail config may
name a CA file anything), and empty stand-ins for programs in the bin
directories (only their existence and mode are ever looked at). Nothing
else is stored, so a 1 GB image costs a pass over its tar stream and a few
MB of disk; the paths of the files left out are remembered, so that a
setting naming one is not mistaken for one naming nothing.
"""

from __future__ import annotations

import io
import os
import tarfile
import time
from dataclasses import dataclass, field

from ats_roots.audit import mail, names
from ats_roots.errors import BadInput
from ats_roots.system import safepath
from ats_roots.system.layout import MANIFEST, TOOL_FAMILIES

BIN_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")
CONTENT = {"/etc/os-release", "/usr/lib/os-release", MANIFEST}
CONTENT |= {tool for lay in TOOL_FAMILIES for tool in lay.tools}  # their #! line is read


@dataclass
class Sparse:
    root: str
    files: int = 0
    bytes: int = 0
    disk: int = 0  # what the copy takes (for MAX_DISK)
    read_bytes: int = 0
    seconds: float = 0.0
    dir_modes: dict[str, int] = field(default_factory=dict)  # the image's own modes
    links: set[str] = field(default_factory=set)  # symlinks made: never write through one
    dirs: set[str] = field(default_factory=set)  # directories made
    left_out: set[str] = field(default_factory=set)  # regular files not written

    def stats(self) -> dict:
        return {
            "files": self.files,
            "bytes": self.bytes,
            "read_bytes": self.read_bytes,
            "seconds": round(self.seconds, 3),
        }


class ChunkStream(io.RawIOBase):
    """A file object over an iterator of byte chunks (docker's export)."""

    def __init__(self, chunks):
        self.chunks, self.pending = iter(chunks), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        n = min(len(buffer), len(self.pending))
        buffer[:n] = self.pending[:n]
        self.pending = self.pending[n:]
        return n


# Bounds on what an export may make ats hold: an image is anyone's tar stream.
MAX_DISK = 512 << 20  # bytes the sparse copy may take (trust files, metadata)
MAX_ENTRIES = 2_000_000  # members remembered (names, modes): the memory bound
MAX_HEADER = 1 << 20  # one pax or GNU long-name header, read whole by tarfile


class TarRefused(BadInput):
    """A member no image export has: named in the one line."""


class _BoundedInfo(tarfile.TarInfo):
    """tarfile reads a pax or long-name header into memory whole, whatever
    size it claims: refuse one past MAX_HEADER before it does."""

    def _proc_member(self, tar):  # noqa: D401 - tarfile's own hook
        long_types = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE)
        long_types += (tarfile.GNUTYPE_LONGNAME, tarfile.GNUTYPE_LONGLINK)
        if self.type in long_types and self.size > MAX_HEADER:
            raise TarRefused(
                f"image export: a {self.size}-byte header before {self.name!r} passes the "
                f"memory bound ({MAX_HEADER} bytes); not an image docker made"
            )
        return super()._proc_member(tar)


def materialize(chunks, dest: str) -> Sparse:
    start = time.monotonic()
    os.makedirs(dest, 0o700, exist_ok=True)
    sparse = Sparse(os.path.realpath(dest))
    tree = safepath.Tree(sparse.root)
    stream = io.BufferedReader(ChunkStream(chunks), 1 << 20)
    seen: set[str] = set()
    try:
        # 64 KiB: tarfile slices its buffer per header, so bigger is slower (measured).
        with tarfile.open(fileobj=stream, mode="r|", bufsize=64 << 10, tarinfo=_BoundedInfo) as tar:
            for member in tar:
                inner = _inner(member.name)
                if inner is None:
                    continue  # the top directory itself
                if inner in seen and not member.isdir():
                    raise TarRefused(f"image export: member {member.name!r} appears twice")
                seen.add(inner)
                if len(seen) > MAX_ENTRIES:
                    raise TarRefused(
                        f"image export: more than {MAX_ENTRIES} members (the memory bound) "
                        f"at {member.name!r}"
                    )
                _one(sparse, tree, tar, member, inner)
                if sparse.disk > MAX_DISK:
                    raise TarRefused(
                        f"image export: the sparse copy passed the disk bound ({MAX_DISK} "
                        f"bytes) at {member.name!r}"
                    )
    except tarfile.TarError as exc:
        raise BadInput(f"image export: not a tar stream ({exc})") from None
    except safepath.Refused as exc:
        raise TarRefused(f"image export: {exc}") from None
    finally:
        tree.close()
    sparse.seconds = time.monotonic() - start
    return sparse


def _inner(name: str) -> str | None:
    """The member's path inside the image; refused when absolute or with
    `..` (docker's export has neither: such a stream is crafted)."""
    if name.startswith("/"):
        raise TarRefused(f"image export: member {name!r} has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise TarRefused(f"image export: member {name!r} climbs out with '..'")
    if not parts:
        return None
    return "/" + "/".join(parts)


def _one(sparse: Sparse, tree, tar: tarfile.TarFile, member: tarfile.TarInfo, inner: str) -> None:
    if _through_link(sparse.links, inner):
        return  # a path through a symlink would write outside the copy
    if member.isdir():
        sparse.dir_modes[inner] = member.mode & 0o7777
        tree.dir(inner)
        sparse.dirs.add(inner)
        tree.chmod_dir(inner, (member.mode & 0o7777) | 0o700)  # we must write below it
        return
    if member.issym():
        tree.symlink(inner, member.linkname)
        sparse.links.add(inner)
        sparse.disk += 512
    elif member.islnk():
        source = _inner(member.linkname)
        if source is None or source in sparse.links or _through_link(sparse.links, source):
            raise TarRefused(
                f"image export: hard link {member.name!r} points out of the tree "
                f"({member.linkname!r})"
            )
        if source not in sparse.left_out:
            try:
                tree.hardlink(source, inner)
            except FileNotFoundError:
                raise TarRefused(
                    f"image export: hard link {member.name!r} to {member.linkname!r}, "
                    "which the stream has not had"
                ) from None
        else:
            sparse.left_out.add(inner)
    elif member.isfile():
        sparse.files += 1
        sparse.bytes += member.size
        data = _keep(sparse, tar, member, inner)
        if data is None:
            sparse.left_out.add(inner)
            return
        tree.file(inner, data, member.mode & 0o7777)
        sparse.disk += len(data) + 512
    # Devices, FIFOs and sockets of the image are never made on the host.
def _keep(sparse: Sparse, tar, member: tarfile.TarInfo, inner: str) -> bytes | None:
    """The bytes to write for this file, or None to leave it out."""
    name = inner.rsplit("/", 1)[1]
    if inner in CONTENT or names.is_sdk_file(inner, name) or mail.is_config(inner):
        if name.endswith(".jar") or member.size > names.MAX_STORE:
            return b""  # a jar's name is all that matters
        data = tar.extractfile(member).read()
        sparse.read_bytes += len(data)
        return data
    kind = names.want(name) or ("pem" if inner.startswith("/etc/") else None)
    if kind and 0 < member.size <= names.MAX_STORE:
        f = tar.extractfile(member)
        head = f.read(names.HEAD)
        sparse.read_bytes += len(head)
        if names.sniff(kind, head) is None:
            return None
        rest = f.read()
        sparse.read_bytes += len(rest)
        return head + rest
    if inner.startswith(BIN_DIRS):
        return b""
    return None


def _through_link(links: set[str], inner: str) -> bool:
    """Is inner, or a directory above it, a symlink made earlier?"""
    if inner in links:
        return True
    at = inner.find("/", 1)
    while at != -1:
        if inner[:at] in links:
            return True
        at = inner.find("/", at + 1)
    return False

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
from ats_roots.system.families import TOOL_FAMILIES
from ats_roots.system.plan import MANIFEST

BIN_DIRS = ("/bin/", "/sbin/", "/usr/bin/", "/usr/sbin/", "/usr/local/bin/", "/usr/local/sbin/")
CONTENT = {"/etc/os-release", "/usr/lib/os-release", MANIFEST}
CONTENT |= {tool for fam in TOOL_FAMILIES for tool in fam.tools}  # their #! line is read


@dataclass
class Sparse:
    root: str
    files: int = 0
    bytes: int = 0
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


def materialize(chunks, dest: str) -> Sparse:
    start = time.monotonic()
    os.makedirs(dest, exist_ok=True)
    sparse = Sparse(os.path.realpath(dest))
    stream = io.BufferedReader(ChunkStream(chunks), 1 << 20)
    # 64 KiB: tarfile slices its buffer per header, so bigger is slower (measured).
    with tarfile.open(fileobj=stream, mode="r|", bufsize=64 << 10) as tar:
        for member in tar:
            inner = _inner(member.name)
            if inner is not None:
                _one(sparse, tar, member, inner)
    sparse.seconds = time.monotonic() - start
    return sparse


def _inner(name: str) -> str | None:
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        return None
    return "/" + "/".join(parts)


def _one(sparse: Sparse, tar: tarfile.TarFile, member: tarfile.TarInfo, inner: str) -> None:
    if _through_link(sparse.links, inner):
        return  # a path through a symlink would write outside the copy
    host = sparse.root + inner
    if member.isdir():
        sparse.dir_modes[inner] = member.mode & 0o7777
        _makedirs(sparse, inner)
        os.chmod(host, (member.mode & 0o7777) | 0o700)  # we must write below it
        return
    _makedirs(sparse, inner.rsplit("/", 1)[0])
    if member.issym():
        os.symlink(member.linkname, host)
        sparse.links.add(inner)
    elif member.islnk():
        source = _inner(member.linkname)
        if source and os.path.isfile(sparse.root + source) and source not in sparse.links:
            os.link(sparse.root + source, host)
    elif member.isfile():
        sparse.files += 1
        sparse.bytes += member.size
        data = _keep(sparse, tar, member, inner)
        if data is None:
            sparse.left_out.add(inner)
            return
        with open(host, "wb") as f:
            f.write(data)
        os.chmod(host, member.mode & 0o7777)


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


def _makedirs(sparse: Sparse, inner: str) -> None:
    if inner and inner not in sparse.dirs:
        os.makedirs(sparse.root + inner, exist_ok=True)
        sparse.dirs.add(inner)


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

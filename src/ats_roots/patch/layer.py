"""The one layer `ats patch` adds, staged in a private directory: files and
symlinks at their paths inside the image, parent directories with the
image's own modes. patch/image.py turns it into the image layer.

The image decides what goes in (its CA tool runs in a container and we copy
back what it changed), so the layer is a record, never a place to follow:
every change goes through safepath.Root(follow=False), a symlink the image
made is kept as a symlink and any path through it is refused, and devices,
FIFOs, sockets and hard links from the image are refused with the member
named. Nothing the image says is ever created on the host but regular
files, directories and symlinks inside this private directory.
"""

from __future__ import annotations

import os
import stat
import tarfile

from ats_roots.errors import BadInput
from ats_roots.system import safepath
from ats_roots.system.target import refusing

MAX_MEMBER = 64 << 20  # a trust store is a few MB; a bigger member is not one
MAX_TOTAL = 512 << 20  # the whole layer


class Layer:
    def __init__(self, root: str, dir_modes: dict[str, int]):
        self.root = root
        self.dir_modes = dir_modes  # inner dir -> its mode in the image
        os.makedirs(root, 0o700, exist_ok=True)
        os.chmod(root, 0o700)  # private, whatever the umask
        self.fs = safepath.Root(root, follow=False)
        self.total = 0

    def host(self, inner: str) -> str:
        return self.root + inner

    def has(self, inner: str) -> bool:
        return refusing(self.fs.lstat, inner) is not None

    def read(self, inner: str) -> bytes | None:
        st = refusing(self.fs.lstat, inner)
        if st is None or not stat.S_ISREG(st.st_mode):
            return None
        return refusing(self.fs.read, inner)

    def write(self, inner: str, data: bytes, mode: int = 0o644) -> None:
        refusing(self.fs.replace, inner, data, mode)

    def symlink(self, inner: str, points_to: str) -> None:
        refusing(self.fs.symlink, inner, points_to)

    def copy_from(self, source: safepath.Root, inner: str) -> None:
        """Take inner (its directory already resolved) as it is in another
        root (a file or a symlink), read through that root's safe path."""
        st = refusing(source.lstat, inner)
        if st is None:
            return
        if stat.S_ISLNK(st.st_mode):
            self.symlink(inner, refusing(source.readlink, inner))
        elif stat.S_ISREG(st.st_mode):
            self.write(inner, refusing(source.read, inner), stat.S_IMODE(st.st_mode))

    def add_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, inner: str) -> None:
        """One entry of a docker get_archive stream, placed at inner."""
        check_member(member)
        if member.issym():
            self.symlink(inner, member.linkname)
        elif member.isfile():
            self.total += member.size
            if self.total > MAX_TOTAL:
                raise BadInput(
                    f"{member.name!r}: the layer passed its bound ({MAX_TOTAL} bytes); "
                    "the image's CA tool wrote far more than trust stores"
                )
            self.write(inner, tar.extractfile(member).read(), member.mode & 0o7777)
        elif member.isdir():
            refusing(self.fs.makedirs, inner)

    def files(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            inner_dir = dirpath[len(self.root) :]
            links = [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
            out += [f"{inner_dir}/{n}" for n in filenames + links]
        return sorted(out)

    def size(self) -> int:
        return sum(os.lstat(self.host(p)).st_size for p in self.files())


def check_member(member: tarfile.TarInfo) -> None:
    """Refuse, naming it, a member no honest CA tool leaves: an absolute name,
    '..', a hard link, a device, FIFO or socket, a size past the bound."""
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise BadInput(f"image member {name!r}: an absolute name or '..'; refused")
    if member.islnk():
        raise BadInput(f"image member {name!r}: a hard link (to {member.linkname!r}); refused")
    if not (member.isfile() or member.isdir() or member.issym()):
        raise BadInput(f"image member {name!r}: a device, FIFO or socket; refused")
    if member.isfile() and member.size > MAX_MEMBER:
        raise BadInput(
            f"image member {name!r}: {member.size} bytes, past the bound ({MAX_MEMBER}); refused"
        )

"""The one layer `ats patch` adds, staged in a private directory: files and
symlinks at their paths inside the image, parent directories with the
image's own modes. patch_image.py turns it into the image layer."""

from __future__ import annotations

import os
import tarfile

from ats_roots import _portable


class Layer:
    def __init__(self, root: str, dir_modes: dict[str, int]):
        self.root = root
        self.dir_modes = dir_modes  # inner dir -> its mode in the image
        os.makedirs(root, exist_ok=True)

    def host(self, inner: str) -> str:
        return self.root + inner

    def has(self, inner: str) -> bool:
        return os.path.lexists(self.host(inner))

    def read(self, inner: str) -> bytes | None:
        if not os.path.isfile(self.host(inner)) or os.path.islink(self.host(inner)):
            return None
        with open(self.host(inner), "rb") as f:
            return f.read()

    def write(self, inner: str, data: bytes, mode: int = 0o644) -> None:
        self._parents(inner)
        _remove(self.host(inner))
        _portable.atomic_write(self.host(inner), data, mode)

    def symlink(self, inner: str, points_to: str) -> None:
        self._parents(inner)
        _remove(self.host(inner))
        os.symlink(points_to, self.host(inner))

    def copy_from(self, root: str, inner: str) -> None:
        """Take inner as it is in another root (a file or a symlink)."""
        src = root + inner
        if os.path.islink(src):
            self.symlink(inner, os.readlink(src))
        elif os.path.isfile(src):
            with open(src, "rb") as f:
                self.write(inner, f.read(), os.stat(src).st_mode & 0o7777)

    def add_member(self, tar: tarfile.TarFile, member: tarfile.TarInfo, inner: str) -> None:
        """One entry of a docker get_archive stream, placed at inner."""
        if member.issym():
            self.symlink(inner, member.linkname)
        elif member.isfile():
            self.write(inner, tar.extractfile(member).read(), member.mode & 0o7777)
        elif member.isdir():
            self._parents(inner + "/x")

    def files(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.root):
            inner_dir = dirpath[len(self.root) :]
            links = [n for n in dirnames if os.path.islink(os.path.join(dirpath, n))]
            out += [f"{inner_dir}/{n}" for n in filenames + links]
        return sorted(out)

    def size(self) -> int:
        return sum(os.lstat(self.host(p)).st_size for p in self.files())

    def _parents(self, inner: str) -> None:
        parts = inner.strip("/").split("/")[:-1]
        path = ""
        for part in parts:
            path += "/" + part
            host = self.host(path)
            if not os.path.isdir(host):
                os.mkdir(host, 0o755)  # the image's own mode goes in the tar (patch_image)


def _remove(host: str) -> None:
    if os.path.islink(host) or os.path.isfile(host):
        os.unlink(host)

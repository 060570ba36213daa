"""One pass over a root file system: the candidate trust stores, the
directories OpenSSL could use as CApath, and old SDK metadata.

os.scandir gives names and types without a stat per entry; only candidates
(names.want) are stat'ed and opened, for their first 4 KiB. The walk stays on
the root's file system and skips /proc, /sys and /dev.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from ats_roots.audit import names

SKIP_TOP = ("proc", "sys", "dev")


@dataclass
class Found:
    """Inner paths (absolute inside the root) of what the walk picked out."""

    pem: list[str] = field(default_factory=list)  # regular files holding PEM certificates
    java: list[str] = field(default_factory=list)  # JKS, JCEKS, PKCS#12 by their magic
    links: list[str] = field(default_factory=list)  # symlinks with store-like names
    hash_dirs: list[str] = field(default_factory=list)  # directories with hash-named entries
    sdk: list[str] = field(default_factory=list)  # old SDK metadata files and dirs
    files: int = 0
    bytes: int = 0  # total size of the regular files (a stat each, see count_bytes)
    read: int = 0  # bytes actually read


def walk(root: str, count_bytes: bool = True) -> Found:
    found = Found()
    top_dev = os.lstat(root).st_dev
    stack = [""]
    while stack:
        inner = stack.pop()
        try:
            entries = list(os.scandir(root + inner if inner else root))
        except OSError:
            continue
        hashed = False
        for entry in entries:
            name = entry.name
            path = f"{inner}/{name}"
            if entry.is_dir(follow_symlinks=False):
                if (inner == "" and name in SKIP_TOP) or _other_fs(entry, top_dev):
                    continue
                if names.is_sdk_dir(name):
                    found.sdk.append(path)
                stack.append(path)
                continue
            hashed = hashed or names.HASH_NAME.match(name) is not None
            if entry.is_symlink():
                if names.want(name):
                    found.links.append(path)
                continue
            if not entry.is_file(follow_symlinks=False):
                continue
            found.files += 1
            kind = names.want(name)
            if kind is None:
                if count_bytes:
                    found.bytes += entry.stat(follow_symlinks=False).st_size
                if names.is_sdk_file(path, name):
                    found.sdk.append(path)
                continue
            size = entry.stat(follow_symlinks=False).st_size
            found.bytes += size
            if 0 < size <= names.MAX_STORE:
                _classify(found, entry.path, path, kind)
        if hashed:
            found.hash_dirs.append(inner or "/")
    return found


def _other_fs(entry: os.DirEntry, top_dev: int) -> bool:
    """A mount point below the root (the host's /proc, a bind mount)."""
    try:
        st = entry.stat(follow_symlinks=False)
    except OSError:
        return True
    return st.st_dev != top_dev or not stat.S_ISDIR(st.st_mode)


def _classify(found: Found, host: str, inner: str, kind: str) -> None:
    try:
        with open(host, "rb") as f:
            head = f.read(names.HEAD)
    except OSError:
        return
    found.read += len(head)
    sniffed = names.sniff(kind, head)
    if sniffed == "pem":
        found.pem.append(inner)
    elif sniffed == "java":
        found.java.append(inner)

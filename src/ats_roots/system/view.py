"""Read what a system's OpenSSL trusts: its bundles and hashed directories."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ats_roots import _portable
from ats_roots.system.target import Target, refusing

if TYPE_CHECKING:
    from ats_roots.system.families import Family

_PEM_BLOCK = re.compile(rb"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)


class StoreView:
    """Fingerprints found, where; `openssl` marks the places OpenSSL reads."""

    # A plain class, not a dataclass: `dataclasses` is a tenth of verify's start.
    def __init__(self) -> None:
        self.locations: dict[str, set[str]] = {}
        self.openssl: set[str] = set()
        self.der_by_sha: dict[str, bytes] = {}
        self.seen: dict[bytes, str] = {}  # PEM block -> its SHA-256

    def trusted(self) -> set[str]:
        found: set[str] = set()
        for path in self.openssl or self.locations:
            found |= self.locations.get(path, set())
        return found

    def where(self, sha: str) -> list[str]:
        return sorted(p for p, shas in self.locations.items() if sha in shas)


def read_bundle(view: StoreView, host_path: str, label: str) -> None:
    """A file named by the user on the host (`--bundle FILE`)."""
    try:
        with open(host_path, "rb") as f:
            data = f.read()
    except OSError:
        return
    view.locations[label] = _fingerprints(view, data)


def read_target_bundle(view: StoreView, target: Target, inner: str, label: str) -> None:
    """A bundle inside the target, read through its safe reads (links followed
    as the target sees them; a FIFO or device refused, never opened); absent or
    a directory: nothing there."""
    try:
        data = target.read(inner)
    except IsADirectoryError:
        return
    if data is not None:
        view.locations[label] = _fingerprints(view, data)


def read_hash_dir(view: StoreView, target: Target, label: str) -> None:
    """label: the CApath inside the target. Its hash links are followed as the
    target sees them: Debian's point at absolute paths, which on the host are
    the host's own files (or nothing)."""
    try:
        names = refusing(target.fs.listdir, label)
    except (FileNotFoundError, NotADirectoryError):
        return
    merged: set[str] = set()
    for name in sorted(n for n in names if _portable.HASH_LINK_NAME.match(n)):
        try:
            data = target.read(label + "/" + name)
        except IsADirectoryError:
            continue
        merged |= _fingerprints(view, data or b"")
    view.locations[label] = merged


def _fingerprints(view: StoreView, data: bytes) -> set[str]:
    """SHA-256 of every certificate in data. A store names one certificate in
    several places (Debian's bundle, its OpenSSL's cert.pem, and a hash link
    per certificate): each PEM block is decoded and hashed once per view."""
    shas = set()
    for block in _PEM_BLOCK.findall(data):
        sha = view.seen.get(block)
        if sha is None:
            for _, der in _portable.pem_blocks(block):
                sha = view.seen[block] = _portable.sha256_hex(der)
                view.der_by_sha.setdefault(sha, der)
        if sha is not None:
            shas.add(sha)
    return shas


def view_target(target: Target, family: Family) -> StoreView:
    """The target's OpenSSL defaults (CAfile, CApath) plus its family's bundles,
    read from files only."""
    view = StoreView()
    paths = family.openssl(target)
    cafile, capath = paths.cafile, paths.capath
    read_target_bundle(view, target, cafile, cafile)
    read_hash_dir(view, target, capath)
    view.openssl = {cafile, capath} & set(view.locations)
    for bundle in family.store_files(target):
        if bundle not in view.locations:
            read_target_bundle(view, target, bundle, bundle)
    return view


def view_bundle(path: str) -> StoreView:
    view = StoreView()
    read_bundle(view, path, path)
    view.openssl = set(view.locations)
    return view


def root_report(view: StoreView, pins=None) -> list[dict]:
    """Per root: trusted, how it is held (pinned certificate, another
    self-signed certificate of its key, a cross-signed copy only), where."""
    from ats_roots.trust import keys

    return keys.store_report(view, pins)

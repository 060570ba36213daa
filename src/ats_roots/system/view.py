"""Read what a system's OpenSSL trusts: its bundles and hashed directories."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ats_roots import _portable
from ats_roots.system.target import Target

if TYPE_CHECKING:
    from ats_roots.system.families import Family


@dataclass
class StoreView:
    """Fingerprints found, where; `openssl` marks the places OpenSSL reads."""

    locations: dict[str, set[str]] = field(default_factory=dict)
    openssl: set[str] = field(default_factory=set)
    der_by_sha: dict[str, bytes] = field(default_factory=dict)

    def trusted(self) -> set[str]:
        found: set[str] = set()
        for path in self.openssl or self.locations:
            found |= self.locations.get(path, set())
        return found

    def where(self, sha: str) -> list[str]:
        return sorted(p for p, shas in self.locations.items() if sha in shas)


def read_bundle(view: StoreView, host_path: str, label: str) -> None:
    try:
        with open(host_path, "rb") as f:
            data = f.read()
    except OSError:
        return
    shas = set()
    for _, der in _portable.pem_blocks(data):
        sha = _portable.sha256_hex(der)
        shas.add(sha)
        view.der_by_sha.setdefault(sha, der)
    view.locations[label] = shas


def read_hash_dir(view: StoreView, target: Target, label: str) -> None:
    """label: the CApath inside the target. Its hash links are followed as the
    target sees them: Debian's point at absolute paths, which on the host are
    the host's own files (or nothing)."""
    host_dir = target.path(target.resolve(label))
    for name in sorted(_portable.subject_hash_links(host_dir)):
        inner = target.resolve(label + "/" + name)
        read_bundle(view, target.path(inner), label + "/" + name)
    merged: set[str] = set()
    for key in [k for k in view.locations if k.startswith(label + "/")]:
        merged |= view.locations.pop(key)
    if merged or os.path.isdir(host_dir):
        view.locations[label] = merged


def view_target(target: Target, family: Family) -> StoreView:
    """The target's OpenSSL defaults (CAfile, CApath) plus its family's bundles,
    read from files only."""
    view = StoreView()
    paths = family.openssl(target)
    cafile, capath = paths.cafile, paths.capath
    read_bundle(view, target.path(target.resolve(cafile)), cafile)
    read_hash_dir(view, target, capath)
    view.openssl = {cafile, capath} & set(view.locations)
    for bundle in family.store_files(target):
        if bundle not in view.locations:
            read_bundle(view, target.path(target.resolve(bundle)), bundle)
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

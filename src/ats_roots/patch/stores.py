"""The stores audit found besides the system's: Java key stores get the
roots as trusted entries, PEM bundles (Python's, an application's) get them
appended. Pinned stores (a handful of roots, none of them ATS) are someone's
decision and are never touched; audit keeps naming them."""

from __future__ import annotations

import os

from ats_roots.audit.model import MISSING, Report, Store
from ats_roots.audit.read import certificates, fingerprints, read_inner
from ats_roots.formats import keystore
from ats_roots.patch.layer import Layer
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert


def patch_stores(
    before: Report, target: Target, layer: Layer, certs: list[Cert], password: str | None
) -> list[str]:
    lines = []
    for store in before.stores:
        if store.verdict != MISSING or store.absent or "hashed dir" in store.kind:
            continue  # the system step made absent bundles and CApath links
        current = layer.read(store.path)
        if current is None:
            current = read_inner(target, store.path)
        if current is None:
            continue
        mode = _mode(target, store.path)
        if store.group == "java":
            lines.append(_java(store, current, certs, password, layer, mode))
        else:
            line = _bundle(store, current, certs, layer, mode)
            if line:
                lines.append(line)
    return lines


def _java(store: Store, data: bytes, certs, password, layer: Layer, mode: int) -> str:
    entries = [(c.slug.lower(), c.der) for c in certs]
    try:
        new = keystore.add_trusted(data, entries, password)
    except keystore.KeystoreError as exc:
        return f"{store.path}: left alone: {exc}"
    if new == data:
        return f"{store.path}: already trusts every root"
    layer.write(store.path, new, mode)
    added = len(keystore.read(new, password).trusted) - len(keystore.read(data, password).trusted)
    return f"{store.path} ({store.kind}): {added} trusted entries added"


def _bundle(store: Store, data: bytes, certs, layer: Layer, mode: int) -> str | None:
    have = fingerprints(certificates(data))
    missing = [c for c in certs if c.sha256 not in have]
    if not missing:
        return None  # the system step already did it (a bundle the tool compiles)
    sep = b"" if not data or data.endswith(b"\n") else b"\n"
    layer.write(store.path, data + sep + b"".join(c.pem for c in missing), mode)
    return f"{store.path} ({store.kind}): {len(missing)} roots appended"


def _mode(target: Target, inner: str) -> int:
    try:
        return os.stat(target.path(target.resolve(inner))).st_mode & 0o7777
    except OSError:
        return 0o644

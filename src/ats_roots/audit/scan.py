"""Audit a root file system: walk it once, let each kind of store claim its
files, collect the verdicts; then the mail programs' trust settings (mail/).
An image is audited as the sparse copy image.py makes of it."""

from __future__ import annotations

import time

from ats_roots.audit import bundles, java, mail, old_sdks, python, system, walk
from ats_roots.audit.family import family_of
from ats_roots.audit.model import Report, Store
from ats_roots.audit.read import certificates, fingerprints, read_inner
from ats_roots.system.target import Target


def audit_target(
    target: Target,
    password: str | None,
    source: dict | None = None,
    stats: dict | None = None,
    left_out: frozenset[str] = frozenset(),  # files an image export did not keep
) -> Report:
    start = time.monotonic()
    found = walk.walk(target.root, count_bytes=stats is None)
    family = family_of(target)
    stores = system.stores(target, found.pem, found.hash_dirs, family)
    stores += java.stores(target, found.java, password)
    stores += _pem_stores(target, found, {s.path for s in stores})
    _add_aliases(target, stores, found.links)
    stores.sort(key=lambda s: (("system", "java", "python", "bundle").index(s.group), s.path))
    scan = stats or {"files": found.files, "bytes": found.bytes, "read_bytes": found.read}
    scan = {**scan, "seconds": round(time.monotonic() - start + scan.get("seconds", 0), 3)}
    return Report(
        source=source or {"root": target.root},
        family=family.name,
        openssl_dir=family.openssl_dir,
        stores=stores,
        sdks=old_sdks.find(target, found.sdk),
        stats=scan,
        mail=mail.settings(target, family.openssl_dir, left_out),
    )


def _pem_stores(target: Target, found: walk.Found, taken: set[str]) -> list[Store]:
    """Python's bundles and any other CA bundle: what system did not claim."""
    hash_dirs = set(found.hash_dirs)
    out = []
    for inner in found.pem:
        if inner in taken or system.claims(target, inner):
            continue
        ders = certificates(read_inner(target, inner) or b"")
        if not bundles.is_store(inner, ders, hash_dirs):
            continue
        kind = python.kind_of(inner)
        out.append(
            Store(inner, kind or "pem bundle", "python" if kind else "bundle", fingerprints(ders))
        )
    return out


def _add_aliases(target: Target, stores: list[Store], links: list[str]) -> None:
    """Symlinks with store names that lead to a store: every JDK's cacerts
    that is a link to the distro's, /etc/ssl/cert.pem, and so on."""
    by_path = {s.path: s for s in stores}
    for link in links:
        store = by_path.get(target.resolve(link))
        if store is not None and link != store.path and link not in store.aliases:
            store.aliases.append(link)

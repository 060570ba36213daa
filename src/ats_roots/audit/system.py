"""System trust stores: the bundles distros compile, and hashed CApath
directories. If an image has none at all, the places its OpenSSL would read
are reported as absent: that is the gap."""

from __future__ import annotations

import os

from ats_roots.audit.family import Family
from ats_roots.audit.model import Store
from ats_roots.audit.read import KNOWN_DERS, certificates, fingerprints, read_inner
from ats_roots.system import view as store_view
from ats_roots.system.layout import COMPILED_TREES, HASH_DIRS, SYSTEM_BUNDLES, TRUST_BUNDLES
from ats_roots.system.target import Target


def claims(target: Target, inner: str) -> bool:
    bundles = {target.resolve(b) for b in SYSTEM_BUNDLES + TRUST_BUNDLES}
    return inner.startswith(COMPILED_TREES) or inner in bundles


def stores(target: Target, pem: list[str], hash_dirs: list[str], family: Family) -> list[Store]:
    out: dict[str, Store] = {}
    cafile = family.openssl_dir + "/cert.pem"
    for inner in dict.fromkeys([cafile, *family.bundles, *SYSTEM_BUNDLES, *TRUST_BUNDLES]):
        real = target.resolve(inner)
        data = read_inner(target, real)
        if data is not None:
            _add(out, real, inner, "system bundle", fingerprints(certificates(data)))
    for inner in pem:
        if inner.startswith(COMPILED_TREES) and inner not in out:
            data = read_inner(target, inner) or b""
            _add(out, inner, inner, "system bundle", fingerprints(certificates(data)))
    system_dirs = {target.resolve(d) for d in (*HASH_DIRS, family.openssl_dir + "/certs")}
    for inner in hash_dirs:
        view = store_view.StoreView()
        store_view.read_hash_dir(view, target, inner)
        KNOWN_DERS.update(view.der_by_sha)  # for roots recognised by key (model.Store.held)
        kind = "system hashed dir" if inner in system_dirs else "hashed dir"
        _add(out, inner, inner, kind, view.locations.get(inner, set()))
        out[inner].group = "system" if inner in system_dirs else "bundle"
    for alias in (*HASH_DIRS, family.openssl_dir + "/certs"):
        real = target.resolve(alias)
        if real in out and alias != real and alias not in out[real].aliases:
            out[real].aliases.append(alias)
    if not any(s.total for s in out.values() if s.group == "system"):
        _absent(out, target, cafile, family)
    return list(out.values())


def _add(out: dict, real: str, seen_as: str, kind: str, shas: set[str]) -> None:
    store = out.setdefault(real, Store(real, kind, "system", shas))
    if seen_as != real and seen_as not in store.aliases:
        store.aliases.append(seen_as)


def _absent(out: dict, target: Target, cafile: str, family: Family) -> None:
    """No system store with a single certificate: name where OpenSSL and the
    family's programs would look, so the gap has a path."""
    for inner in dict.fromkeys([cafile, *family.bundles]):
        real = target.resolve(inner)
        if real in out:
            out[real].note = out[real].note or "holds no certificate"
            continue
        what = "OpenSSL's default CAfile" if inner == cafile else f"{family.name}'s CA bundle"
        exists = os.path.lexists(target.path(real))
        store = Store(real, "system bundle", "system", absent=True)
        store.note = f"{'empty' if exists else 'absent'}: {what}; no CA certificates installed"
        if inner != real:
            store.aliases.append(inner)
        out[real] = store

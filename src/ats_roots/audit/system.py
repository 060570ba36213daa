"""System trust stores: the bundles distros compile, and hashed CApath
directories. If an image has none at all, the places its OpenSSL would read
are reported as absent: that is the gap."""

from __future__ import annotations

import os

from ats_roots.audit.family import Family
from ats_roots.audit.model import Store
from ats_roots.audit.read import certificates, fingerprints, read_inner
from ats_roots.system import view as store_view
from ats_roots.system.target import Target

BUNDLES = (
    "/etc/ssl/certs/ca-certificates.crt",  # Debian, Ubuntu, Alpine; Arch links it
    "/etc/ssl/cert.pem",  # Alpine, Arch (OPENSSLDIR /etc/ssl)
    "/usr/lib/ssl/cert.pem",  # Debian, Ubuntu (OPENSSLDIR /usr/lib/ssl)
    "/etc/pki/tls/certs/ca-bundle.crt",  # RHEL family
    "/etc/pki/tls/cert.pem",  # RHEL family (OPENSSLDIR /etc/pki/tls)
    "/etc/pki/tls/certs/ca-bundle.trust.crt",
    "/etc/ssl/ca-bundle.pem",  # SUSE
    "/etc/ca-certificates/extracted/tls-ca-bundle.pem",  # Arch, p11-kit
)
# Everything in these trees is compiled from anchors by the distro's tool.
TREES = (
    "/etc/pki/ca-trust/extracted/",
    "/var/lib/ca-certificates/",
    "/etc/ca-certificates/extracted/",
)
HASH_DIRS = (
    "/etc/ssl/certs",
    "/usr/lib/ssl/certs",
    "/etc/pki/tls/certs",
    "/var/lib/ca-certificates/openssl",
    "/etc/ca-certificates/extracted/cadir",
    "/etc/pki/ca-trust/extracted/pem/directory-hash",
)


def claims(target: Target, inner: str) -> bool:
    return inner.startswith(TREES) or inner in {target.resolve(b) for b in BUNDLES}


def stores(target: Target, pem: list[str], hash_dirs: list[str], family: Family) -> list[Store]:
    out: dict[str, Store] = {}
    cafile = family.openssl_dir + "/cert.pem"
    for inner in dict.fromkeys([cafile, *family.bundles, *BUNDLES]):
        real = target.resolve(inner)
        data = read_inner(target, real)
        if data is not None:
            _add(out, real, inner, "system bundle", fingerprints(certificates(data)))
    for inner in pem:
        if inner.startswith(TREES) and inner not in out:
            data = read_inner(target, inner) or b""
            _add(out, inner, inner, "system bundle", fingerprints(certificates(data)))
    system_dirs = {target.resolve(d) for d in (*HASH_DIRS, family.openssl_dir + "/certs")}
    for inner in hash_dirs:
        view = store_view.StoreView()
        store_view.read_hash_dir(view, target, inner)
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

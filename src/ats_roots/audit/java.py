"""Java key stores: every JDK's and JRE's cacerts, the distros' shared ones
(/etc/ssl/certs/java/cacerts, /etc/pki/java/cacerts, ...), and any other
JKS, JCEKS or PKCS#12 trust store, read without Java (see keystore.py)."""

from __future__ import annotations

from ats_roots.audit.model import Store
from ats_roots.audit.read import fingerprints, read_inner
from ats_roots.formats import keystore
from ats_roots.system.target import Target

KNOWN = (
    "/etc/ssl/certs/java/cacerts",  # Debian's ca-certificates-java
    "/etc/pki/java/cacerts",  # RHEL
    "/etc/pki/ca-trust/extracted/java/cacerts",
    "/var/lib/ca-certificates/java-cacerts",  # SUSE
)


def stores(target: Target, java: list[str], password: str | None) -> list[Store]:
    out: dict[str, Store] = {}
    for inner in dict.fromkeys([*java, *KNOWN]):
        real = target.resolve(inner)
        data = read_inner(target, real)
        if real in out or data is None or keystore.sniff(data[:16]) is None:
            continue
        out[real] = _store(real, data, password)
        if inner != real:
            out[real].aliases.append(inner)
    return list(out.values())


def _store(inner: str, data: bytes, password: str | None) -> Store:
    try:
        ks = keystore.read(data, password)
    except keystore.KeystoreError as exc:
        return Store(
            inner,
            "java " + (keystore.sniff(data[:16]) or "?"),
            "java",
            readable=False,
            note=str(exc),
        )
    # read.fingerprints, not ks.fingerprints(): it remembers the certificates,
    # so that roots are recognised by key here too (model.Store.held)
    store = Store(inner, "java " + ks.format, "java", fingerprints([d for _, d in ks.trusted]))
    notes = []
    if ks.integrity == "wrong password":
        notes.append("integrity check fails with the given password (--storepass)")
    if ks.integrity == "none":
        notes.append("no password (JDK 18+ style)")
    if ks.keys:
        notes.append(f"{ks.keys} key entries")
    store.note = "; ".join(notes)
    return store

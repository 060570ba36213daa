"""No CA tool (distroless, busybox, slim images with no CA package).

Nothing will compile anchors here, so write what OpenSSL reads by default:
OPENSSLDIR/cert.pem and OPENSSLDIR/certs/ with hash links, plus
/etc/ssl/certs/ca-certificates.crt, which many programs open directly.
Bundles are appended to, never rewritten; missing ones are created.
"""

from __future__ import annotations

import os

from ats_roots import _portable
from ats_roots.system.layout import DIRECT_BUNDLE
from ats_roots.system.openssl import OpenSSLPaths, openssl_paths
from ats_roots.system.plan import Link, Plan, Write, read_manifest
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert


class NoTool:
    name = "notool"

    def __init__(self, openssl_dir: str | None = None, why: str = ""):
        self.fixed_openssl_dir = openssl_dir  # the known family's, when it lacks its tool
        self.why = why

    def detect(self, target: Target, os_ids: list[str]) -> bool:
        return True  # the fallback: it needs nothing from the target

    def tool(self, target: Target) -> None:
        return None

    def openssl(self, target: Target) -> OpenSSLPaths:
        return openssl_paths(target, self.fixed_openssl_dir)

    def store_files(self, target: Target) -> list[str]:
        return _bundles(target, self.openssl(target).openssl_dir)

    def verify(self, target: Target):
        from ats_roots.system.view import view_target

        return view_target(target, self)

    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        plan = Plan(self.name, target)
        if self.why:
            plan.notes.append(self.why)
        paths = self.openssl(target)
        found = f" (read from {paths.found_in})" if paths.found_in else ""
        plan.notes.append(f"OPENSSLDIR {paths.openssl_dir}{found}")
        for bundle in _bundles(target, paths.openssl_dir):
            _plan_bundle(plan, target, bundle, certs)
        _plan_hash_dir(plan, target, target.resolve(paths.capath), certs)
        return plan

    def plan_uninstall(self, target: Target) -> Plan:
        plan = Plan(self.name, target)
        records = read_manifest(target)
        ours: dict[str, list[str]] = {}  # in the order they were appended
        created = {r[1] for r in records if r[0] == "create"}
        newline = {r[1] for r in records if r[0] == "newline"}
        for record in records:
            if record[0] == "append" and record[2] not in ours.get(record[1], []):
                ours.setdefault(record[1], []).append(record[2])
            elif record[0] in ("link", "file"):
                plan.removes.append(record[1])
        for bundle, shas in ours.items():
            data = _read(target.path(bundle))
            kept = _without(data, shas, bundle in newline)
            if bundle in created and not _portable.pem_blocks(kept):
                plan.removes.append(bundle)
            elif kept != data:
                plan.writes.append(Write(bundle, kept, "remove the roots ats added"))
        plan.forget = [r[1] for r in records]
        return plan



def _bundles(target: Target, ossl: str) -> list[str]:
    seen: list[str] = []
    for inner in (ossl + "/cert.pem", DIRECT_BUNDLE):
        resolved = target.resolve(inner)
        if resolved not in seen:
            seen.append(resolved)
    return seen


def _read(host_path: str) -> bytes:
    try:
        with open(host_path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def _plan_bundle(plan: Plan, target: Target, bundle: str, certs: list[Cert]) -> None:
    data = _read(target.path(bundle))
    have = {sha for _, sha in _blocks(data)}
    missing = [c for c in certs if c.sha256 not in have]
    if not os.path.exists(target.path(bundle)):
        plan.manifest.append("\t".join(("create", bundle, "-")))
    for cert in missing:
        plan.manifest.append("\t".join(("append", bundle, cert.sha256)))
    if missing:
        sep = b"" if not data or data.endswith(b"\n") else b"\n"
        if sep:  # so that uninstall takes it back too
            plan.manifest.append("\t".join(("newline", bundle, "-")))
        new = data + sep + b"".join(c.pem for c in missing)
        plan.writes.append(Write(bundle, new, f"append {len(missing)} roots"))


def _plan_hash_dir(plan: Plan, target: Target, certs_dir: str, certs: list[Cert]) -> None:
    host_dir = target.path(certs_dir)
    links = _portable.subject_hash_links(host_dir)
    for cert in certs:
        h = _portable.subject_hash(cert.der)
        same = sorted(n for n in links if n.startswith(h + "."))
        # Follow the links as the target sees them (Debian's are absolute).
        hosts = [target.path(target.resolve(f"{certs_dir}/{n}")) for n in same]
        if any(_fingerprint_at(p) == cert.sha256 for p in hosts):
            continue
        name = f"{cert.slug}.pem"
        plan.writes.append(Write(f"{certs_dir}/{name}", cert.pem, f"{cert.name} for CApath"))
        index = 0
        while f"{h}.{index}" in links:
            index += 1
        links.add(f"{h}.{index}")
        plan.links.append(Link(f"{certs_dir}/{h}.{index}", name, "OpenSSL hash link"))
        plan.manifest.append("\t".join(("file", f"{certs_dir}/{name}", cert.sha256)))
        plan.manifest.append("\t".join(("link", f"{certs_dir}/{h}.{index}", cert.sha256)))


def _fingerprint_at(host_path: str) -> str | None:
    found = _portable.fingerprints_in(host_path)
    return next(iter(found)) if len(found) == 1 else None


def _blocks(data: bytes) -> list[tuple[bytes, str]]:
    return [(pem, _portable.sha256_hex(der)) for pem, der in _portable.pem_blocks(data)]


def _without(data: bytes, shas: list[str], newline: bool = False) -> bytes:
    """data less the exact blocks ats appended; every other byte stays.

    ats appends its blocks back to back: remove that run (and the newline ats
    put before it, if it did). If something else was written in between,
    remove one block per fingerprint, the last one, so that a copy the
    system put there as well stays the system's."""
    pem_of = {sha: pem for pem, sha in _blocks(data)}
    if all(sha in pem_of for sha in shas):
        run = b"".join(pem_of[sha] for sha in shas)
        at = data.rfind(run)
        if at >= 0:
            end = at + len(run)
            if newline and at > 0 and data[at - 1 : at] == b"\n" and end == len(data):
                at -= 1
            return data[:at] + data[end:]
    left = set(shas)
    for pem, sha in reversed(_blocks(data)):
        at = data.rfind(pem)
        if sha in left and at >= 0:
            data = data[:at] + data[at + len(pem) :]
            left.discard(sha)
    return data

"""No CA tool (distroless, busybox, slim images with no CA package).

Nothing will compile anchors here, so write what OpenSSL reads by default:
OPENSSLDIR/cert.pem and OPENSSLDIR/certs/ with hash links, plus
/etc/ssl/certs/ca-certificates.crt, which many programs open directly.
Bundles are appended to, never rewritten; missing ones are created.
"""

from __future__ import annotations

from ats_roots import _portable
from ats_roots.system import _core
from ats_roots.system.families._interface import Family
from ats_roots.system.openssl import OpenSSLPaths, openssl_paths
from ats_roots.system.plan import Plan, Write, read_manifest
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert


class NoTool(Family):
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
        return _core.notool_bundles(target, self.openssl(target).openssl_dir)

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
        return _core.notool_plan(plan, target, paths.openssl_dir, paths.capath, certs)

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


def _read(host_path: str) -> bytes:
    try:
        with open(host_path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return b""


def _without(data: bytes, shas: list[str], newline: bool = False) -> bytes:
    """data less the exact blocks ats appended; every other byte stays.

    ats appends its blocks back to back: remove that run (and the newline ats
    put before it, if it did). If something else was written in between,
    remove one block per fingerprint, the last one, so that a copy the
    system put there as well stays the system's."""
    pem_of = {sha: pem for pem, sha in _core.pem_shas(data)}
    if all(sha in pem_of for sha in shas):
        run = b"".join(pem_of[sha] for sha in shas)
        at = data.rfind(run)
        if at >= 0:
            end = at + len(run)
            if newline and at > 0 and data[at - 1 : at] == b"\n" and end == len(data):
                at -= 1
            return data[:at] + data[end:]
    left = set(shas)
    for pem, sha in reversed(_core.pem_shas(data)):
        at = data.rfind(pem)
        if sha in left and at >= 0:
            data = data[:at] + data[at + len(pem) :]
            left.discard(sha)
    return data

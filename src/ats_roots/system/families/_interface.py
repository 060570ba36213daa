"""The one interface every trust-store family implements, declared.

A family answers five questions about a target: is it mine (detect), what
would installing or uninstalling the roots change (two plans: data that
`--dry-run` prints and system.plan.apply carries out), where does its
OpenSSL read, and what does its store trust now (verify). Nothing here
writes; nothing here runs the target's programs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from ats_roots.system.openssl import OpenSSLPaths
    from ats_roots.system.plan import Plan
    from ats_roots.system.target import Target
    from ats_roots.system.view import StoreView
    from ats_roots.trust.certs import Cert


@runtime_checkable
class Family(Protocol):
    name: str

    def detect(self, target: Target, os_ids: list[str]) -> bool:
        """Does this family manage target's store (os-release IDs given)?"""

    def tool(self, target: Target) -> str | None:
        """The CA tool it runs inside the target, or None if it runs none."""

    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        """What adding certs changes; trusted: fingerprints already trusted."""

    def plan_uninstall(self, target: Target) -> Plan:
        """What removing exactly what install added changes."""

    def openssl(self, target: Target) -> OpenSSLPaths:
        """Where the target's OpenSSL reads (OPENSSLDIR, CAfile, CApath)."""

    def store_files(self, target: Target) -> list[str]:
        """The bundles the family writes or its tool compiles."""

    def verify(self, target: Target) -> StoreView:
        """What the store trusts now, read from files; raises EnvRefuses
        where this family cannot tell (a platform store ats does not read)."""

"""The one interface every trust-store family implements, declared.

A family answers five questions about a target: is it mine (detect), what
would installing or uninstalling the roots change (two plans: data that
`--dry-run` prints and system.plan.apply carries out), where does its
OpenSSL read, and what does its store trust now (verify). Nothing here
writes; nothing here runs the target's programs.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (3 ms of a start)
if TYPE_CHECKING:
    from ats_roots.system.openssl import OpenSSLPaths
    from ats_roots.system.plan import Plan
    from ats_roots.system.target import Target
    from ats_roots.system.view import StoreView
    from ats_roots.trust.certs import Cert


# An ABC, not a typing.Protocol: every family says `class X(Family)`, Python
# refuses to make one that lacks a method, and `typing` stays out of the start.
class Family(ABC):
    name: str

    @abstractmethod
    def detect(self, target: Target, os_ids: list[str]) -> bool:
        """Does this family manage target's store (os-release IDs given)?"""

    @abstractmethod
    def tool(self, target: Target) -> str | None:
        """The CA tool it runs inside the target, or None if it runs none."""

    @abstractmethod
    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        """What adding certs changes; trusted: fingerprints already trusted."""

    @abstractmethod
    def plan_uninstall(self, target: Target) -> Plan:
        """What removing exactly what install added changes."""

    @abstractmethod
    def openssl(self, target: Target) -> OpenSSLPaths:
        """Where the target's OpenSSL reads (OPENSSLDIR, CAfile, CApath)."""

    @abstractmethod
    def store_files(self, target: Target) -> list[str]:
        """The bundles the family writes or its tool compiles."""

    @abstractmethod
    def verify(self, target: Target) -> StoreView:
        """What the store trusts now, read from files; raises EnvRefuses
        where this family cannot tell (a platform store ats does not read)."""

"""The shape shared by the platform stores (macOS keychain, Windows ROOT):
each root staged as a file in the user's own directory, then added by the
platform's own command. Planned and tested as commands only: no macOS or
Windows runs in this project's CI, so verify says plainly that it is not
available rather than guess."""

from __future__ import annotations

import os

from ats_roots.errors import EnvRefuses
from ats_roots.system.families._interface import Family
from ats_roots.system.openssl import OpenSSLPaths
from ats_roots.system.plan import Plan, Write
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert


class PlatformFamily(Family):
    name = ""
    system = ""  # platform.system() there
    title = ""  # for people
    tool_name = ""
    staging = ""  # where roots are staged for the tool (never a shared /tmp path)
    remove_hint = ""
    check: tuple[str, ...] = ()  # the command a person runs to see the store

    def install_command(self, pem_path: str) -> list[str]:
        raise NotImplementedError

    def detect(self, target: Target, os_ids: list[str]) -> bool:
        if not target.is_host:
            return False
        import platform  # only for the host: a --root never is macOS or Windows

        return platform.system() == self.system

    def tool(self, target: Target) -> str:
        return self.tool_name

    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        plan = Plan(self.name, target)
        for cert in certs:
            if cert.sha256 in trusted:
                continue
            path = os.path.join(self.staging, f"{cert.slug}.pem")
            plan.writes.append(Write(path, cert.pem, f"{cert.name} for {self.tool_name}"))
            plan.commands.append(self.install_command(path))
        return plan

    def plan_uninstall(self, target: Target) -> Plan:
        return Plan(self.name, target, notes=[f"remove with: {self.remove_hint}"])

    def openssl(self, target: Target) -> OpenSSLPaths:
        # Its TLS stack reads the platform store, not an OpenSSL directory;
        # an OpenSSL there (Homebrew, Git for Windows) keeps its own.
        return OpenSSLPaths("", None)

    def store_files(self, target: Target) -> list[str]:
        return []

    def verify(self, target: Target):
        raise EnvRefuses(
            f"verify is not available on {self.title}: ats does not read the platform "
            f"store; check with `{' '.join(self.check)}`"
        )

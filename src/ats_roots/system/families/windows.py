"""Windows: the machine ROOT store, through `certutil`. Planned and tested
as commands only; no Windows runs here."""

from __future__ import annotations

import os
import platform

from ats_roots.errors import EnvRefuses
from ats_roots.system.openssl import OpenSSLPaths
from ats_roots.system.plan import Plan, Write
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert

STAGING = os.path.join(os.environ.get("LOCALAPPDATA", os.path.expanduser("~")), "ats-roots")


class Windows:
    name = "windows"

    def detect(self, target: Target, os_ids: list[str]) -> bool:
        return target.is_host and platform.system() == "Windows"

    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        plan = Plan(self.name, target)
        for cert in certs:
            if cert.sha256 in trusted:
                continue
            # certutil reads a file: stage each root in the user's own directory.
            path = os.path.join(STAGING, f"{cert.slug}.pem")
            plan.writes.append(Write(path, cert.pem, f"{cert.name} for certutil"))
            plan.commands.append(install_command(path))
        return plan

    def plan_uninstall(self, target: Target) -> Plan:
        return Plan(self.name, target, notes=["remove with: certutil -delstore ROOT SERIAL"])

    def tool(self, target: Target) -> str:
        return "certutil"

    def openssl(self, target: Target) -> OpenSSLPaths:
        # Its TLS stack reads the platform store, not an OpenSSL directory;
        # an OpenSSL there (Homebrew, Git for Windows) keeps its own.
        return OpenSSLPaths("", None)

    def store_files(self, target: Target) -> list[str]:
        return []

    def verify(self, target: Target):
        raise EnvRefuses(
            "verify is not available on Windows: ats does not read the platform store; "
            "check with `certutil -store ROOT`"
        )


def install_command(pem_path: str) -> list[str]:
    return ["certutil", "-addstore", "-f", "ROOT", pem_path]


def check_command() -> list[str]:
    return ["certutil", "-store", "ROOT"]

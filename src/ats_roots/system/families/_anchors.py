"""The shape shared by every family that compiles anchors with its own tool.

A family drops one file per certificate into its anchor directory and runs
its tool, so the distro's own later runs (package upgrades, `--fresh`) keep
the roots. Each family module is this class with its layout filled in
(system/layout.py holds the paths).
"""

from __future__ import annotations

from ats_roots.system import _core
from ats_roots.system.families._interface import Family
from ats_roots.system.layout import FamilyLayout
from ats_roots.system.plan import Plan, read_manifest
from ats_roots.system.target import Target
from ats_roots.trust.certs import Cert


class AnchorFamily(Family):
    layout: FamilyLayout

    @property
    def name(self) -> str:
        return self.layout.name

    def matches(self, os_ids: list[str]) -> bool:
        return any(i in self.layout.ids for i in os_ids)

    def detect(self, target: Target, os_ids: list[str]) -> bool:
        return _core.detected_tool(self.layout._asdict(), target, os_ids) is not None

    def tool(self, target: Target) -> str | None:
        return target.find_tool(self.layout.tools)

    def command(self, target: Target) -> list[str]:
        return [self.tool(target) or self.layout.tools[0], *self.layout.tool_args]

    def anchor_path(self, cert: Cert) -> str:
        return f"{self.layout.anchor_dir}/{cert.slug}{self.layout.suffix}"

    def plan_install(self, target: Target, certs: list[Cert], trusted: set[str]) -> Plan:
        """Anchors that are missing or differ, then the tool if anything changed
        or if the compiled store still lacks one of them (the core's, as the hook)."""
        lay = self.layout
        return _core.anchor_plan(
            Plan(self.name, target), target, lay.anchor_dir, lay.suffix, self.command(target),
            certs, trusted,
        )

    def plan_uninstall(self, target: Target) -> Plan:
        plan = Plan(self.name, target)
        for record in read_manifest(target):
            if record[0] == "anchor" and record[1].startswith(self.layout.anchor_dir + "/"):
                plan.removes.append(record[1])
        plan.forget = list(plan.removes)
        if plan.removes:
            plan.commands.append(self.command(target) + list(self.layout.uninstall_args))
        return plan

    def openssl(self, target: Target):
        from ats_roots.system.openssl import openssl_paths

        return openssl_paths(target, self.layout.openssl_dir)

    def store_files(self, target: Target) -> list[str]:
        return list(self.layout.bundles)

    def verify(self, target: Target):
        from ats_roots.system.view import view_target

        return view_target(target, self)


"""Windows: the machine ROOT store, through `certutil`."""

import os

from ats_roots.system.families._platform import PlatformFamily


class Windows(PlatformFamily):
    name, system, title, tool_name = "windows", "Windows", "Windows", "certutil"
    staging = os.path.join(os.environ.get("LOCALAPPDATA", os.path.expanduser("~")), "ats-roots")
    remove_hint = "certutil -delstore ROOT SERIAL"
    check = ("certutil", "-store", "ROOT")

    def install_command(self, pem_path: str) -> list[str]:
        return ["certutil", "-addstore", "-f", "ROOT", pem_path]

"""macOS: the System keychain, through `security`."""

import os

from ats_roots.system.families._platform import PlatformFamily

KEYCHAIN = "/Library/Keychains/System.keychain"


class MacOS(PlatformFamily):
    name, system, title, tool_name = "macos", "Darwin", "macOS", "security"
    staging = os.path.expanduser("~/.ats-roots")
    remove_hint = "security delete-certificate -Z SHA1"
    check = ("security", "find-certificate", "-a", "-Z", KEYCHAIN)

    def install_command(self, pem_path: str) -> list[str]:
        return ["security", "add-trusted-cert", "-d", "-r", "trustRoot", "-k", KEYCHAIN, pem_path]

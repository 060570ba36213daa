"""Shared pieces of the hostile-tree corpus: a host sentinel (a temp
directory standing for the host's /etc, /usr/local/share/ca-certificates
and /var/lib, which every attack aims at), synthetic targets, and the three
assertions every case makes after every command:

  1. the host sentinel is byte-identical (tree_digest: types, modes, owners,
     contents, link targets),
  2. the target's store is untouched (byte-identical) when the command was
     refused, or fully right (ats verify --root passes) after an install,
  3. the exit code is the documented one, and a refusal is one line
     `ats: error: ...` holding the documented words.
"""

from __future__ import annotations

import os
from pathlib import Path

from helpers import ats, one_error_line, synthetic_root, tree_digest

SENTINEL_FILES = {
    "etc/os-release": "ID=host-sentinel\n",
    "etc/ssl/certs/ca-certificates.crt": "host bundle, never to change\n",
    "etc/pki/tls/cert.pem": "host pki bundle\n",
    "usr/local/share/ca-certificates/host.crt": "host anchor\n",
    "var/lib/host-state": "host state\n",
}


def make_sentinel(base: Path) -> Path:
    host = base / "host-sentinel"
    for inner, text in SENTINEL_FILES.items():
        path = host / inner
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return host


def debian_notool(root: Path, os_release_at: str = "/etc/os-release") -> Path:
    """A Debian tree without update-ca-certificates: ats's no-tool family."""
    synthetic_root(root, None, files={os_release_at: "ID=debian\n"})
    for inner in ("etc/ssl/certs", "usr/lib/ssl"):
        (root / inner).mkdir(parents=True, exist_ok=True)
    return root


def link(root: Path, inner: str, points_to: str) -> None:
    path = root / inner.lstrip("/")
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_dir() and not path.is_symlink():
        path.rmdir()
    os.symlink(points_to, path)


def changed(before: dict, after: dict) -> list[str]:
    return sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))[:10]


class Checker:
    """Runs ats commands on one target and checks the three properties."""

    def __init__(self, root: Path, host: Path, env=None):
        self.root, self.host, self.env = root, host, env
        self.host_digest = tree_digest(host)

    def run(self, args, code: int, words: str | None = None):
        before = tree_digest(self.root)
        proc = ats(*args, env=self.env, timeout=120)
        detail = f"{args}: {proc.stdout}{proc.stderr}"
        assert proc.returncode == code, detail
        if code:
            line = one_error_line(proc)
            if words:
                assert words in line, detail
            after = tree_digest(self.root)
            assert after == before, f"{args} refused but changed: {changed(before, after)}"
        after = tree_digest(self.host)
        assert after == self.host_digest, (
            f"{args} changed the host sentinel: {changed(self.host_digest, after)}"
        )
        return proc

    def every_command(self, expect: dict):
        """expect: command -> (exit code, words); the five commands in the
        order a user would meet them: dry run, verify, install, verify, uninstall, audit."""
        root = str(self.root)
        code, words = expect["install"]
        self.run(["install", "--root", root, "--dry-run"], code, words)
        self.run(["verify", "--root", root], *expect.get("verify-before", (1, None)))
        self.run(["install", "--root", root], code, words)
        if code == 0:  # fully right: the store the target's programs read trusts all five
            self.run(["verify", "--root", root], 0)
        self.run(["uninstall", "--root", root], *expect.get("uninstall", (0, None)))
        self.run(["audit", "--root", root], *expect.get("audit", (0, None)))

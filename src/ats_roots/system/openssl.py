"""Where a target's OpenSSL reads its trust: found in the target's files,
never by running anything of the target's (its openssl or python could be
anyone's code, and read-only commands must not run it)."""

from __future__ import annotations

import glob
import os
import re
from typing import NamedTuple

from ats_roots.system import layout
from ats_roots.system.target import Target

# libcrypto carries the string OpenSSL_version(OPENSSL_DIR) returns.
_OPENSSLDIR = re.compile(rb'OPENSSLDIR: "(/[^"\x00]{0,200})"')
_MAX_READ = 32 << 20  # a libcrypto is a few MB; anything larger is not one


class OpenSSLPaths(NamedTuple):
    """OPENSSLDIR and the default CAfile and CApath under it, inside the target."""

    openssl_dir: str
    found_in: str | None  # the file it was read from; None: the family's default

    @property
    def cafile(self) -> str:
        return self.openssl_dir + "/cert.pem"

    @property
    def capath(self) -> str:
        return self.openssl_dir + "/certs"


def openssl_paths(target: Target, default: str | None = None) -> OpenSSLPaths:
    """The OPENSSLDIR the target's libcrypto was built with, else default
    (the family's), else /etc/ssl."""
    for inner in _libcrypto_candidates(target):
        found = _openssldir_in(target.path(inner))
        if found:
            return OpenSSLPaths(found, inner)
    return OpenSSLPaths(default or layout.DEFAULT_OPENSSL_DIR, None)


def _libcrypto_candidates(target: Target) -> list[str]:
    seen: list[str] = []
    for pattern in layout.LIBCRYPTO_GLOBS:
        for host in sorted(glob.glob(target.path(pattern))):
            inner = target.resolve("/" + os.path.relpath(host, target.root))
            if inner not in seen and not inner.endswith((".hmac", ".sig")):
                seen.append(inner)
    return seen


def _openssldir_in(host: str) -> str | None:
    try:
        if not os.path.isfile(host) or os.path.getsize(host) > _MAX_READ:
            return None
        with open(host, "rb") as f:
            match = _OPENSSLDIR.search(f.read())
    except OSError:
        return None
    return match.group(1).decode("ascii", "replace") if match else None

"""Where a target's OpenSSL reads its trust: found in the target's files,
never by running anything of the target's (its openssl or python could be
anyone's code, and read-only commands must not run it)."""

from __future__ import annotations

from collections import namedtuple

from ats_roots.system import _core
from ats_roots.system.target import Target


# collections.namedtuple, not a dataclass or typing.NamedTuple: `dataclasses`
# (with inspect) and `typing` are each milliseconds of every start, and these
# are plain immutable records.
class OpenSSLPaths(namedtuple("OpenSSLPaths", ["openssl_dir", "found_in"])):
    """OPENSSLDIR and the default CAfile and CApath under it, inside the target."""

    # found_in: the file it was read from; None: the family's default
    __slots__ = ()

    @property
    def cafile(self) -> str:
        return self.openssl_dir + "/cert.pem"

    @property
    def capath(self) -> str:
        return self.openssl_dir + "/certs"


def openssl_paths(target: Target, default: str | None = None) -> OpenSSLPaths:
    """The OPENSSLDIR the target's libcrypto was built with, else default
    (the family's), else /etc/ssl (the install core's, as the hook)."""
    return OpenSSLPaths(*_core.openssl_dir(target, default))

"""Chain verdicts from the host's own libcrypto (OpenSSL 3), through ctypes.

Why ctypes and not `cryptography` or a subprocess: the image's TLS clients
(curl, Postfix, Python's ssl, most C programs) decide with OpenSSL's
X509_verify_cert, and OpenSSL's rules differ from RFC 5280 strict profiles
(it accepts legacy anchors whose basicConstraints is not critical). Calling the
same function with the same parameters TLS sets (purpose sslserver, host,
time, and X509_V_FLAG_X509_STRICT for Python 3.13+) gives their verdict, not
an imitation of it. Only the host's library is ever loaded: nothing from a
target root file system runs. `cryptography`'s own bundled OpenSSL is not used
because it never builds paths (it verifies nothing through X509_STORE).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import datetime
import os
from dataclasses import dataclass, field

from ats_roots import _portable

# From <openssl/x509_vfy.h> and <openssl/x509v3.h> (stable ABI values).
X509_V_FLAG_X509_STRICT = 0x20
X509_V_FLAG_PARTIAL_CHAIN = 0x80000
X509_PURPOSE_SSL_SERVER = 2
MIN_VERSION = 0x30000000  # OpenSSL 3.0.0

PROFILES = {
    "default": 0,  # curl, Postfix, Python <= 3.12, most C clients
    "strict": X509_V_FLAG_X509_STRICT,  # openssl -x509_strict; Python 3.13+ ssl
}


class Unavailable(RuntimeError):
    """No OpenSSL 3 libcrypto on this host: the verdict cannot be OpenSSL's."""


@dataclass
class Verdict:
    ok: bool
    error: str = ""  # OpenSSL's text for the first error, e.g. "certificate has expired"
    code: int = 0  # X509_V_ERR_*
    depth: int = -1  # where in the chain the error was found
    path: list[bytes] = field(default_factory=list)  # DER, leaf first, as OpenSSL built it


_LIB: list = []


def library():
    """The loaded libcrypto, once per process; Unavailable if there is none >= 3."""
    if _LIB:
        return _LIB[0]
    # ATS_LIBCRYPTO: ask another libcrypto 3 of this host (e.g. the build an
    # image ships, copied out); never one inside a target root file system.
    chosen = os.environ.get("ATS_LIBCRYPTO")
    names = (
        [chosen]
        if chosen
        else [ctypes.util.find_library("crypto"), "libcrypto.so.3", "libcrypto.3.dylib"]
    )
    lib, last = None, "not found"
    for name in [n for n in names if n]:
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError as exc:
            last = str(exc)
    if lib is None:
        raise Unavailable(f"no libcrypto on this host ({last})")
    try:
        lib.OpenSSL_version_num.restype = ctypes.c_ulong
        version = lib.OpenSSL_version_num()
    except AttributeError:
        raise Unavailable("libcrypto is older than 1.1 (no OpenSSL_version_num)") from None
    if version < MIN_VERSION:
        raise Unavailable(f"libcrypto is {version:#x}, older than OpenSSL 3")
    _declare(lib)
    _LIB.append(lib)
    return lib


def version_text() -> str:
    lib = library()
    return lib.OpenSSL_version(0).decode()


def _declare(lib) -> None:
    p, i, ul, sz = ctypes.c_void_p, ctypes.c_int, ctypes.c_ulong, ctypes.c_size_t
    sig = {
        "OpenSSL_version": (ctypes.c_char_p, [i]),
        "d2i_X509": (p, [p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "i2d_X509": (i, [p, ctypes.POINTER(ctypes.c_char_p)]),
        "X509_free": (None, [p]),
        "X509_STORE_new": (p, []),
        "X509_STORE_free": (None, [p]),
        "X509_STORE_add_cert": (i, [p, p]),
        "X509_STORE_CTX_new": (p, []),
        "X509_STORE_CTX_free": (None, [p]),
        "X509_STORE_CTX_init": (i, [p, p, p, p]),
        "X509_STORE_CTX_get0_param": (p, [p]),
        "X509_STORE_CTX_set_purpose": (i, [p, i]),
        "X509_STORE_CTX_get_error": (i, [p]),
        "X509_STORE_CTX_get_error_depth": (i, [p]),
        "X509_STORE_CTX_get0_chain": (p, [p]),
        "X509_verify_cert": (i, [p]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [ctypes.c_long]),
        "X509_VERIFY_PARAM_set_flags": (i, [p, ul]),
        "X509_VERIFY_PARAM_set_time": (None, [p, ctypes.c_int64]),
        "X509_VERIFY_PARAM_set1_host": (i, [p, ctypes.c_char_p, sz]),
        "X509_VERIFY_PARAM_set1_ip_asc": (i, [p, ctypes.c_char_p]),
        "OPENSSL_sk_new_null": (p, []),
        "OPENSSL_sk_push": (i, [p, p]),
        "OPENSSL_sk_num": (i, [p]),
        "OPENSSL_sk_value": (p, [p, i]),
        "OPENSSL_sk_free": (None, [p]),
        "ERR_clear_error": (None, []),
    }
    for name, (restype, argtypes) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = restype, argtypes


def _x509(lib, der: bytes):
    buf = ctypes.c_char_p(der)
    x = lib.d2i_X509(None, ctypes.byref(buf), len(der))
    if not x:
        lib.ERR_clear_error()
        raise ValueError("libcrypto cannot parse a certificate")
    return x


def _der(lib, x) -> bytes:
    n = lib.i2d_X509(x, None)
    out = ctypes.create_string_buffer(n)
    ptr = ctypes.c_char_p(ctypes.addressof(out))
    lib.i2d_X509(x, ctypes.byref(ptr))
    return out.raw[:n]


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Anchors:
    """An X509_STORE of trusted certificates, built once for several verdicts
    (OpenSSL 3.0 re-sorts the store on every add: a big bundle costs ~0.3 s)."""

    def __init__(self, anchors: list[bytes]):
        self.lib = library()
        self.store = self.lib.X509_STORE_new()
        for der in anchors:
            x = _x509(self.lib, der)
            self.lib.X509_STORE_add_cert(self.store, x)  # takes its own reference
            self.lib.X509_free(x)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.store:
            self.lib.X509_STORE_free(self.store)
            self.store = None


def verify(
    leaf: bytes,
    untrusted: list[bytes],
    anchors,
    at: datetime.datetime,
    host: str | None,
    flags: int = 0,
) -> Verdict:
    """X509_verify_cert as a TLS client runs it: purpose sslserver, the host
    checked in the chain's verification, the time pinned, flags as given
    (PROFILES, possibly | X509_V_FLAG_PARTIAL_CHAIN). anchors: DER list or Anchors."""
    if not isinstance(anchors, Anchors):
        with Anchors(anchors) as store:
            return verify(leaf, untrusted, store, at, host, flags)
    lib = library()
    owned, ctx, stack = [], None, None
    try:
        stack = lib.OPENSSL_sk_new_null()
        for der in untrusted:
            x = _x509(lib, der)
            owned.append(x)
            lib.OPENSSL_sk_push(stack, x)
        x_leaf = _x509(lib, leaf)
        owned.append(x_leaf)
        ctx = lib.X509_STORE_CTX_new()
        if lib.X509_STORE_CTX_init(ctx, anchors.store, x_leaf, stack) != 1:
            raise RuntimeError("X509_STORE_CTX_init failed")
        lib.X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER)
        param = lib.X509_STORE_CTX_get0_param(ctx)
        lib.X509_VERIFY_PARAM_set_time(param, int(at.timestamp()))
        if flags:
            lib.X509_VERIFY_PARAM_set_flags(param, flags)
        if host and _is_ip(host):  # as Python's ssl does: an address is matched as one
            lib.X509_VERIFY_PARAM_set1_ip_asc(param, host.encode())
        elif host:
            name = host.encode("idna") if not host.isascii() else host.encode()
            lib.X509_VERIFY_PARAM_set1_host(param, name, len(name))
        ok = lib.X509_verify_cert(ctx) == 1
        code = lib.X509_STORE_CTX_get_error(ctx)
        chain = lib.X509_STORE_CTX_get0_chain(ctx)
        path = []
        if chain:
            count = lib.OPENSSL_sk_num(chain)
            path = [_der(lib, lib.OPENSSL_sk_value(chain, k)) for k in range(count)]
        text = "" if ok else lib.X509_verify_cert_error_string(code).decode()
        depth = -1 if ok else lib.X509_STORE_CTX_get_error_depth(ctx)
        lib.ERR_clear_error()
        return Verdict(ok=ok and code == 0, error=text, code=code, depth=depth, path=path)
    finally:
        if ctx:
            lib.X509_STORE_CTX_free(ctx)
        if stack:
            lib.OPENSSL_sk_free(stack)
        for x in owned:
            lib.X509_free(x)


LIB_DIRS = ("lib", "lib64", "usr/lib", "usr/lib64", "usr/local/lib")


def target_libcrypto(host_root: str) -> list[str]:
    """Names of the libcrypto files a root file system ships (read, never
    loaded), e.g. ['usr/lib/x86_64-linux-gnu/libcrypto.so.3']."""
    import glob

    found = []
    for d in LIB_DIRS:
        for pattern in ("libcrypto.so.*", "*-linux-*/libcrypto.so.*"):
            found += glob.glob(os.path.join(host_root, d, pattern))
    return sorted({os.path.relpath(p, host_root) for p in found})


def version_note(host_root: str) -> str:
    """A note when the target's OpenSSL is not 3.x: its verdicts may differ."""
    names = target_libcrypto(host_root)
    if not names:
        return ""
    if any((_portable.libcrypto_major(n) or 0) >= 3 for n in names):
        return ""
    return (
        f"the target ships {', '.join(names)}, not OpenSSL 3: its own TLS may decide "
        "differently (OpenSSL 1.1 has no -x509_strict checks of CA certificates)"
    )

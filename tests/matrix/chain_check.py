"""Check 2 of the matrix where an image has Python but no openssl command.

Python's ssl module cannot verify a certificate chain without a handshake,
and we hold no Amazon keys to make one; so call X509_verify_cert in the very
libcrypto that this Python's ssl module uses, with the default trust paths
(X509_STORE_set_default_paths): the image's own TLS stack, its own store.
Standard library only; runs on Python 3.6+.

    chain_check.py FIXTURES_DIR UNIX_TIME "r2m01 ..." "1:r2m03 ..."
"""

import ctypes
import os
import ssl
import sys

c_p = ctypes.c_void_p


def libcrypto():
    """The libcrypto mapped into this process by the ssl module."""
    import _ssl

    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "libcrypto" in os.path.basename(path):
                return ctypes.CDLL(path), path
    # Statically linked into _ssl: its symbols are in the extension itself.
    return ctypes.CDLL(_ssl.__file__), _ssl.__file__


def bind(lib):
    sig = {
        "X509_STORE_new": (c_p, []),
        "X509_STORE_set_default_paths": (ctypes.c_int, [c_p]),
        "d2i_X509": (c_p, [c_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_long]),
        "X509_STORE_CTX_new": (c_p, []),
        "X509_STORE_CTX_init": (ctypes.c_int, [c_p, c_p, c_p, c_p]),
        "X509_STORE_CTX_get0_param": (c_p, [c_p]),
        "X509_VERIFY_PARAM_set_time": (None, [c_p, ctypes.c_int64]),
        "X509_verify_cert": (ctypes.c_int, [c_p]),
        "X509_STORE_CTX_get_error": (ctypes.c_int, [c_p]),
        "X509_verify_cert_error_string": (ctypes.c_char_p, [ctypes.c_long]),
        "X509_STORE_CTX_free": (None, [c_p]),
        "OPENSSL_sk_new_null": (c_p, []),
        "OPENSSL_sk_push": (ctypes.c_int, [c_p, c_p]),
    }
    for name, (res, args) in sig.items():
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = res, args
    return lib


def load(lib, path):
    with open(path) as f:
        der = ssl.PEM_cert_to_DER_cert(f.read())
    buf = ctypes.c_char_p(der)
    return lib.d2i_X509(None, ctypes.byref(buf), len(der))


def verify(lib, store, path, at=None, untrusted=()):
    stack = lib.OPENSSL_sk_new_null()
    for extra in untrusted:
        lib.OPENSSL_sk_push(stack, load(lib, extra))
    ctx = lib.X509_STORE_CTX_new()
    lib.X509_STORE_CTX_init(ctx, store, load(lib, path), stack)
    if at is not None:
        lib.X509_VERIFY_PARAM_set_time(lib.X509_STORE_CTX_get0_param(ctx), at)
    ok = lib.X509_verify_cert(ctx) == 1
    err = lib.X509_verify_cert_error_string(lib.X509_STORE_CTX_get_error(ctx)).decode()
    lib.X509_STORE_CTX_free(ctx)
    return ok, err


def main():
    fixtures, at, intermediates, leaves = sys.argv[1:5]
    lib, where = libcrypto()
    bind(lib)
    print("stack: python %s %s (%s)" % (sys.version.split()[0], ssl.OPENSSL_VERSION, where))
    print("default paths: %s" % (ssl.get_default_verify_paths(),))
    store = lib.X509_STORE_new()
    lib.X509_STORE_set_default_paths(store)
    fail = 0
    for name in intermediates.split():
        ok, err = verify(lib, store, os.path.join(fixtures, name + ".pem"))
        print("ok   %s" % name if ok else "FAIL %s: %s" % (name, err))
        fail |= not ok
    for pair in leaves.split():
        n, via = pair.split(":")
        leaf = os.path.join(fixtures, "valid.rootca%s.demo.amazontrust.com.pem" % n)
        ok, err = verify(lib, store, leaf, int(at), [os.path.join(fixtures, via + ".pem")])
        label = "valid.rootca%s (via %s)" % (n, via)
        print("ok   " + label if ok else "FAIL %s: %s" % (label, err))
        fail |= not ok
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())

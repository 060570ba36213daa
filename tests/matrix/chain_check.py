"""Check 2 of the matrix where an image has Python but no openssl command.

Python's ssl module cannot verify a certificate chain without a handshake,
and we hold no Amazon keys to make one; so call X509_verify_cert in the very
libcrypto that this Python's ssl module uses, with the default trust paths
(X509_STORE_set_default_paths): the image's own TLS stack, its own store.
Standard library only; runs on Python 3.6+.

    chain_check.py FIXTURES_DIR UNIX_TIME "r2m01 ..." "1:r2m03 ..."
"""

import os
import ssl
import sys


def libcrypto_path():
    """The libcrypto mapped into this process by the ssl module (or _ssl
    itself, when OpenSSL is linked into it statically)."""
    import _ssl

    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1]
            if "libcrypto" in os.path.basename(path):
                return path
    return _ssl.__file__


SIGNATURES = """
    void *X509_STORE_new(void);
    int X509_STORE_set_default_paths(void *store);
    void *d2i_X509(void *out, const unsigned char **in, long len);
    void *X509_STORE_CTX_new(void);
    int X509_STORE_CTX_init(void *ctx, void *store, void *cert, void *chain);
    void *X509_STORE_CTX_get0_param(void *ctx);
    void X509_VERIFY_PARAM_set_time(void *param, int64_t t);
    int X509_verify_cert(void *ctx);
    int X509_STORE_CTX_get_error(void *ctx);
    const char *X509_verify_cert_error_string(long n);
    void X509_STORE_CTX_free(void *ctx);
    void *OPENSSL_sk_new_null(void);
    int OPENSSL_sk_push(void *stack, const void *data);
"""


class CtypesCrypto(object):
    """libcrypto through ctypes (needs the image's libffi)."""

    def __init__(self, path):
        import ctypes

        self.ctypes = ctypes
        self.lib = ctypes.CDLL(path)
        c_p, c_int = ctypes.c_void_p, ctypes.c_int
        pp = ctypes.POINTER(ctypes.c_char_p)
        for name, ret, args in (
            ("X509_STORE_new", c_p, []),
            ("X509_STORE_set_default_paths", c_int, [c_p]),
            ("d2i_X509", c_p, [c_p, pp, ctypes.c_long]),
            ("X509_STORE_CTX_new", c_p, []),
            ("X509_STORE_CTX_init", c_int, [c_p, c_p, c_p, c_p]),
            ("X509_STORE_CTX_get0_param", c_p, [c_p]),
            ("X509_VERIFY_PARAM_set_time", None, [c_p, ctypes.c_int64]),
            ("X509_verify_cert", c_int, [c_p]),
            ("X509_STORE_CTX_get_error", c_int, [c_p]),
            ("X509_verify_cert_error_string", ctypes.c_char_p, [ctypes.c_long]),
            ("X509_STORE_CTX_free", None, [c_p]),
            ("OPENSSL_sk_new_null", c_p, []),
            ("OPENSSL_sk_push", c_int, [c_p, c_p]),
        ):
            fn = getattr(self.lib, name)
            fn.restype, fn.argtypes = ret, args

    def call(self, name, *args):
        return getattr(self.lib, name)(*args)

    def d2i(self, der):
        buf = self.ctypes.c_char_p(der)
        return self.lib.d2i_X509(None, self.ctypes.byref(buf), len(der))

    def text(self, ptr):
        return ptr.decode()


class CffiCrypto(object):
    """libcrypto through cffi's ABI mode, where ctypes has no libffi (Alpine
    images without the libffi package; cffi's wheel carries its own)."""

    def __init__(self, path):
        import cffi

        self.ffi = cffi.FFI()
        self.ffi.cdef(SIGNATURES.replace("int64_t", "long long"))
        self.lib = self.ffi.dlopen(path)

    def call(self, name, *args):
        return getattr(self.lib, name)(*[self.ffi.NULL if a is None else a for a in args])

    def d2i(self, der):
        keep = self.ffi.from_buffer(der)
        pp = self.ffi.new("const unsigned char **", self.ffi.cast("const unsigned char *", keep))
        return self.lib.d2i_X509(self.ffi.NULL, pp, len(der))

    def text(self, ptr):
        return self.ffi.string(ptr).decode()


def open_crypto():
    path = libcrypto_path()
    try:
        return CtypesCrypto(path), "ctypes", path
    except ImportError:
        sys.path.insert(0, "/opt/ats-roots/lib")  # cffi comes with ats
        return CffiCrypto(path), "cffi", path


def load(crypto, path):
    with open(path) as f:
        return crypto.d2i(ssl.PEM_cert_to_DER_cert(f.read()))


def verify(crypto, store, path, at=None, untrusted=()):
    stack = crypto.call("OPENSSL_sk_new_null")
    for extra in untrusted:
        crypto.call("OPENSSL_sk_push", stack, load(crypto, extra))
    ctx = crypto.call("X509_STORE_CTX_new")
    crypto.call("X509_STORE_CTX_init", ctx, store, load(crypto, path), stack)
    if at is not None:
        crypto.call("X509_VERIFY_PARAM_set_time", crypto.call("X509_STORE_CTX_get0_param", ctx), at)
    ok = crypto.call("X509_verify_cert", ctx) == 1
    code = crypto.call("X509_STORE_CTX_get_error", ctx)
    err = crypto.text(crypto.call("X509_verify_cert_error_string", code))
    crypto.call("X509_STORE_CTX_free", ctx)
    return ok, err


def main():
    fixtures, at, intermediates, leaves = sys.argv[1:5]
    crypto, how, where = open_crypto()
    print("stack: python %s %s (%s via %s)" % (sys.version.split()[0], ssl.OPENSSL_VERSION,
                                               where, how))
    print("default paths: %s" % (ssl.get_default_verify_paths(),))
    store = crypto.call("X509_STORE_new")
    crypto.call("X509_STORE_set_default_paths", store)
    fail = 0
    for name in intermediates.split():
        ok, err = verify(crypto, store, os.path.join(fixtures, name + ".pem"))
        print("ok   %s" % name if ok else "FAIL %s: %s" % (name, err))
        fail |= not ok
    for pair in leaves.split():
        n, via = pair.split(":")
        leaf = os.path.join(fixtures, "valid.rootca%s.demo.amazontrust.com.pem" % n)
        ok, err = verify(crypto, store, leaf, int(at), [os.path.join(fixtures, via + ".pem")])
        label = "valid.rootca%s (via %s)" % (n, via)
        print("ok   " + label if ok else "FAIL %s: %s" % (label, err))
        fail |= not ok
    return 1 if fail else 0


if __name__ == "__main__":
    sys.exit(main())

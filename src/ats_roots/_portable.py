"""Standard-library helpers shared by the package and the start-time hook.

Everything here must run on any python3 from 3.6 on, with nothing installed
and even on Debian's python3-minimal (no shutil, no json): scripts/gen-hook
inlines this file into the hook (src/ats_roots/hook/ats-hook), so the hook
and `ats` share one copy.
Keep it to os, re, base64, hashlib (and its _sha256), tempfile, fcntl, errno.
"""

import base64
import errno
import os
import re

# The interpreter's own SHA-256 for fingerprints: hashlib would load OpenSSL's
# libcrypto for it, 2 ms of every start; hashlib is imported where SHA-1 or a
# signature digest is needed.
try:
    from _sha2 import sha256 as _sha256  # 3.12 on
except ImportError:
    try:
        from _sha256 import sha256 as _sha256  # 3.6 to 3.11
    except ImportError:  # a build without them
        from hashlib import sha256 as _sha256

try:
    import fcntl
except ImportError:  # Windows: no flock; FileLock is only used on Linux targets
    fcntl = None

_PEM_BLOCK = re.compile(
    rb"-----BEGIN CERTIFICATE-----\r?\n(.*?)-----END CERTIFICATE-----\r?\n?", re.S
)
_PEM_ANY = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----\r?\n?", re.S)


class PemError(ValueError):
    """Input that is not a clean PEM certificate bundle."""


def pem_blocks(data, strict=False):
    """Return [(pem_bytes, der_bytes)] for every CERTIFICATE block in data.

    strict: refuse anything between blocks but blank lines and '#' comments
    (RHEL and Debian bundles carry such comments; anything else in a file a
    user hands us is a sign that it is not what they think it is).
    """
    if isinstance(data, str):
        data = data.encode("ascii", "replace")
    out = []
    pos = 0
    for match in _PEM_ANY.finditer(data):
        if strict:
            _check_gap(data[pos : match.start()])
        pos = match.end()
        block = match.group(0)
        cert = _PEM_BLOCK.match(block)
        if cert is None:
            if strict:
                raise PemError("holds a %s block, not a certificate" % match.group(1).decode())
            continue
        try:
            der = pem_body_der(cert.group(1))
        except ValueError:
            raise PemError("holds a certificate block that is not valid base64") from None
        if not block.endswith(b"\n"):
            block += b"\n"
        out.append((block, der))
    if strict:
        _check_gap(data[pos:])
        if not out:
            raise PemError("holds no PEM certificate")
    return out


_BEGIN = b"-----BEGIN CERTIFICATE-----"
_END = b"-----END CERTIFICATE-----"


def cert_blocks(data):
    """[(PEM block, its base64 body)] per CERTIFICATE block, not decoded: for
    readers that see one certificate in many files and decode each once.
    The blocks _PEM_BLOCK finds, found with bytes.find: the regex's lazy
    match is most of the time of reading a 200 KB bundle."""
    out = []
    pos = 0
    while True:
        start = data.find(_BEGIN, pos)
        if start < 0:
            return out
        body_at = _skip(data, start + len(_BEGIN), b"\r")
        if data[body_at : body_at + 1] != b"\n":  # BEGIN not ending its line: no block
            pos = body_at
            continue
        end = data.find(_END, body_at + 1)
        if end < 0:
            return out
        stop = _skip(data, _skip(data, end + len(_END), b"\r"), b"\n")
        body_at += 1
        out.append((data[start:stop], data[body_at:end]))
        pos = stop


def _skip(data, at, byte):
    return at + 1 if data[at : at + 1] == byte else at


def pem_body_der(body):
    """DER of a block's base64 body; ValueError if it is not clean base64."""
    return base64.b64decode(b"".join(body.split()), validate=True)


def _check_gap(gap):
    for line in gap.splitlines():
        line = line.strip()
        if line and not line.startswith(b"#"):
            raise PemError("has text that is not PEM between or around its blocks")


def sha256_hex(der):
    return _sha256(der).hexdigest()


def colon_hex(hexdigest):
    """'8ecd...' -> '8E:CD:...', the form openssl and browsers print."""
    h = hexdigest.upper()
    return ":".join(h[i : i + 2] for i in range(0, len(h), 2))


def fingerprints_in(path):
    """SHA-256 of every certificate in a PEM file; empty set if unreadable."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError:
        return set()
    return {sha256_hex(der) for _, der in pem_blocks(data)}


def parse_os_release(text):
    """The os-release(5) key=value format, quotes and escapes removed."""
    info = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        info[key.strip()] = re.sub(r"\\(.)", r"\1", value)
    return info


def os_ids(info):
    """ID then ID_LIKE, lower-case: the names family detection matches."""
    ids = [info.get("ID", "").lower()]
    ids.extend(info.get("ID_LIKE", "").lower().split())
    return [i for i in ids if i]


def atomic_write(path, data, mode=0o644):
    """Write data to path so that readers see the old file or the new, never half.

    Temp file in the same directory (a rename across file systems is a copy),
    fsync the file, rename over, fsync the directory.
    """
    directory = os.path.dirname(path) or "."
    fd, tmp = _mkstemp(directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


def _mkstemp(directory):
    """tempfile.mkstemp(prefix=".ats-", dir=directory), imported here: only
    writes need it, and it brings shutil and random (15 ms of a start that
    writes nothing). Some cut-down Pythons in images have no tempfile: they
    get the same, an exclusive 0600 file of a random name, not followed
    through a symlink."""
    try:
        import tempfile
    except ImportError:
        pass
    else:
        return tempfile.mkstemp(prefix=".ats-", dir=directory)
    flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    flags |= getattr(os, "O_CLOEXEC", 0)
    for _ in range(100):
        tmp = os.path.join(directory, ".ats-" + base64.b32encode(os.urandom(5)).decode().lower())
        try:
            return os.open(tmp, flags, 0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no unused temporary name", directory)


def _fsync_dir(directory):
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LockHeld(Exception):
    """The lock stayed taken past the timeout; str() names who holds it."""


class FileLock:
    """An exclusive flock on a file, so installs on one root serialize.

    opener: a function returning the open fd (ats passes its safe-path
    primitive, so that a lock under a target is never reached through a
    link); without one, the file and its directory are made at path.
    timeout: seconds to wait before LockHeld, which names the holder (from
    /proc/locks) so that the one line says whom to wait for."""

    def __init__(self, path, timeout=None, opener=None):
        self.path = path
        self.timeout = timeout
        self.opener = opener
        self.fd = None

    def __enter__(self):
        if self.opener is not None:
            self.fd = self.opener()
        else:
            parent = os.path.dirname(self.path)
            if parent:
                # exist_ok: two installs starting at once both find it missing.
                os.makedirs(parent, 0o755, exist_ok=True)
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        if self.timeout is None:
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            return self
        import time

        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() >= deadline:
                holder = lock_holder(self.fd)
                os.close(self.fd)
                self.fd = None
                raise LockHeld(holder)
            time.sleep(0.05)

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def lock_holder(fd):
    """Who holds an flock on the file open at fd: 'pid 123 (ats install ...)'."""
    st = os.fstat(fd)
    dev = "%02x:%02x:%d" % (os.major(st.st_dev), os.minor(st.st_dev), st.st_ino)
    try:
        with open("/proc/locks") as f:
            lines = f.read().splitlines()
    except OSError:
        return "another process (no /proc/locks here to say which)"
    for line in lines:
        fields = line.split()
        if len(fields) > 5 and fields[1] == "FLOCK" and fields[5] == dev:
            pid = fields[4]
            try:
                with open("/proc/%s/cmdline" % pid, "rb") as f:
                    words = f.read().split(b"\0")
                cmd = b" ".join(w for w in words if w).decode("utf-8", "replace")[:120]
            except OSError:
                cmd = "its command line unreadable"
            return "pid %s (%s)" % (pid, cmd)
    return "a process in another PID namespace"


# OpenSSL's CApath names (c_rehash, `openssl rehash`): <subject hash>.<n>, e.g. ce5e74ef.0
HASH_LINK_NAME = re.compile(r"^[0-9a-f]{8}\.[0-9]+$")


def libcrypto_major(name):
    """The OpenSSL major version a libcrypto's file name says: 3 for
    libcrypto.so.3, 1 for libcrypto.so.1.1; None for a name that says none."""
    found = re.search(r"libcrypto\.so\.([0-9]+)", name or "")
    return int(found.group(1)) if found else None


def subject_hash_links(directory):
    """Existing OpenSSL hash link names in a directory, e.g. {'ce5e74ef.0'}."""
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    return {n for n in names if HASH_LINK_NAME.match(n)}


def is_readonly_error(exc):
    return isinstance(exc, OSError) and exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM)


# --- OpenSSL subject-name hash, for the <hash>.0 links in certs directories.
# Tools like `openssl rehash` are missing exactly where we need links most
# (distroless, slim images), so compute X509_NAME_hash here: SHA-1 over the
# canonical encoding of the subject, low four bytes little-endian.

# Tags of the string types OpenSSL canonicalises (ASN1_MASK_CANON).
_CANON_STRING_TAGS = {0x0C, 0x13, 0x14, 0x16, 0x1A, 0x1C, 0x1E}


def _der_read(data, pos):
    """(tag, start of content, end of content) of the TLV at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos : pos + n], "big")
        pos += n
    return tag, pos, pos + length


def _der_len(n):
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def _der(tag, content):
    return bytes([tag]) + _der_len(len(content)) + content


def _decode_string(tag, raw):
    if tag == 0x1E:
        return raw.decode("utf-16-be")
    if tag == 0x1C:
        return raw.decode("utf-32-be")
    if tag == 0x14:
        return raw.decode("latin-1")
    return raw.decode("utf-8", "replace")


def _canon_value(text):
    # OpenSSL: strip leading/trailing space, fold runs of space to one, lower ASCII.
    text = re.sub(r"\s+", " ", text.strip(" \t\n\r\f\v"))
    return "".join(c.lower() if c < "\x80" else c for c in text)


def subject_der(cert_der):
    """DER of the subject Name of a certificate."""
    _, pos, _ = _der_read(cert_der, 0)  # Certificate
    _, pos, end = _der_read(cert_der, pos)  # tbsCertificate
    fields = []
    while pos < end and len(fields) < 6:
        tag, start, stop = _der_read(cert_der, pos)
        fields.append((tag, pos, stop))
        pos = stop
    if fields[0][0] != 0xA0:  # v1 certificates have no [0] version
        fields.insert(0, None)
    _, begin, stop = fields[5]
    return cert_der[begin:stop]


def subject_hash(cert_der):
    """OpenSSL's X509_subject_name_hash, as the 8 hex digits of a link name."""
    name = subject_der(cert_der)
    _, pos, end = _der_read(name, 0)
    canon = b""
    while pos < end:
        _, rdn_pos, rdn_end = _der_read(name, pos)
        pos = rdn_end
        atvs = []
        while rdn_pos < rdn_end:
            _, atv_pos, atv_end = _der_read(name, rdn_pos)
            rdn_pos = atv_end
            _, oid_start, oid_end = _der_read(name, atv_pos)
            oid = name[atv_pos:oid_end]
            vtag, vstart, vend = _der_read(name, oid_end)
            if vtag in _CANON_STRING_TAGS:
                text = _canon_value(_decode_string(vtag, name[vstart:vend]))
                value = _der(0x0C, text.encode("utf-8"))
            else:
                value = name[oid_end:vend]
            atvs.append(_der(0x30, oid + value))
        canon += _der(0x31, b"".join(sorted(atvs)))
    import hashlib

    digest = hashlib.sha1(canon).digest()  # noqa: S324 - OpenSSL's format, not security
    return "%08x" % int.from_bytes(digest[:4], "little")


# --- Roots recognised by key: SPKI extraction, SPKI SHA-256, self-signature check.
# Amazon Trust Services publishes several certificates per root key (self-signed,
# cross-signed) and recommends pinning the SHA-256 of the SubjectPublicKeyInfo.
# A store holds a root when it holds a self-signed certificate of that key whose
# signature checks. The signature check is pure Python (RSA PKCS#1 v1.5 with
# SHA-1/256/384/512, ECDSA P-256/P-384 with SHA-256/384) and only ever runs on
# the few certificates whose SPKI hash matches a pin, so the fast path stays fast.


def _tbs_fields(cert_der):
    """(tbs start, tbs end, [(tag, start, end)] of the tbs fields, v1 padded)."""
    _, pos, _ = _der_read(cert_der, 0)
    tbs_start = pos
    _, pos, end = _der_read(cert_der, pos)
    fields = []
    while pos < end and len(fields) < 7:
        tag, _, stop = _der_read(cert_der, pos)
        fields.append((tag, pos, stop))
        pos = stop
    if fields[0][0] != 0xA0:
        fields.insert(0, None)
    return tbs_start, end, fields


def spki_der(cert_der):
    """DER of the certificate's SubjectPublicKeyInfo."""
    _, _, fields = _tbs_fields(cert_der)
    _, begin, stop = fields[6]
    return cert_der[begin:stop]


def spki_sha256(cert_der):
    """SHA-256 of the SubjectPublicKeyInfo, hex: the key pin Amazon publishes."""
    return sha256_hex(spki_der(cert_der))


def issuer_der(cert_der):
    _, _, fields = _tbs_fields(cert_der)
    _, begin, stop = fields[3]
    return cert_der[begin:stop]


def _children(data, start, end):
    """[(tag, content start, content end)] of the TLVs between start and end."""
    out = []
    while start < end:
        tag, begin, stop = _der_read(data, start)
        out.append((tag, begin, stop))
        start = stop
    return out


def _oid_in(data, seq_start, seq_end):
    """Content bytes of the first OID in an AlgorithmIdentifier."""
    items = _children(data, seq_start, seq_end)
    return data[items[0][1] : items[0][2]], items[1:]


# The facts `ats install` and the hook check of an extra CA (--extra-ca),
# read from the DER by both, so that they refuse the same files.
_OID_BASIC_CONSTRAINTS = b"\x06\x03\x55\x1d\x13"
_OID_COMMON_NAME = b"\x06\x03\x55\x04\x03"


def _items(data, start, end):
    """_children, refusing a TLV that runs past its parent."""
    items = _children(data, start, end)
    if items and items[-1][2] > end:
        raise ValueError("truncated DER")
    return items


def cert_facts(cert_der):
    """(cA of basicConstraints, notAfter as YYYYMMDDHHMMSS, subject CN or
    None) of a certificate; ValueError or IndexError if it does not parse.
    Signatures are not checked."""
    (_, tbs_start, tbs_end) = _items(cert_der, 0, len(cert_der))[0]
    (_, tbs_start, tbs_end) = _items(cert_der, tbs_start, tbs_end)[0]
    fields = _items(cert_der, tbs_start, tbs_end)
    if fields[0][0] != 0xA0:  # v1: no [0] version field
        fields.insert(0, None)
    validity, subject = fields[4], fields[5]
    tag, start, end = _items(cert_der, validity[1], validity[2])[1]
    text = cert_der[start:end].decode("ascii").rstrip("Z")
    not_after = ("20" if text[:2] < "50" else "19") + text if tag == 0x17 else text
    is_ca = False
    for tag, start, end in fields[6:]:
        if tag == 0xA3:  # [3] extensions
            is_ca = is_ca or _basic_constraints_ca(cert_der, start, end)
    return is_ca, not_after[:14], _common_name(cert_der, subject)


def _basic_constraints_ca(der, start, end):
    (_, seq_start, seq_end) = _items(der, start, end)[0]
    for _, ext_start, ext_end in _items(der, seq_start, seq_end):
        if der[ext_start : ext_start + 5] != _OID_BASIC_CONSTRAINTS:
            continue
        value = _items(der, ext_start, ext_end)[-1]  # OCTET STRING
        inner = _items(der, value[1], value[2])[0]  # BasicConstraints SEQUENCE
        first = _items(der, inner[1], inner[2])[:1]
        return bool(first) and first[0][0] == 0x01 and der[first[0][1]] != 0
    return False


def _common_name(der, subject):
    for _, set_start, set_end in _items(der, subject[1], subject[2]):
        for _, atv_start, atv_end in _items(der, set_start, set_end):
            if der[atv_start : atv_start + 5] == _OID_COMMON_NAME:
                _, start, end = _items(der, atv_start, atv_end)[1]
                return der[start:end].decode("utf-8", "replace")
    return None


_RSA_SIG = {
    bytes.fromhex("2a864886f70d010105"): "sha1",
    bytes.fromhex("2a864886f70d01010b"): "sha256",
    bytes.fromhex("2a864886f70d01010c"): "sha384",
    bytes.fromhex("2a864886f70d01010d"): "sha512",
}
_ECDSA_SIG = {
    bytes.fromhex("2a8648ce3d040302"): "sha256",
    bytes.fromhex("2a8648ce3d040303"): "sha384",
}
_DIGEST_INFO = {
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
_RSA_KEY = bytes.fromhex("2a864886f70d010101")
_EC_KEY = bytes.fromhex("2a8648ce3d0201")
# (p, n, Gx, Gy) of NIST (a = -3 for both) P-256 and P-384 (FIPS 186-4, D.1.2.3/D.1.2.4).
_CURVES = {
    bytes.fromhex("2a8648ce3d030107"): (
        2**256 - 2**224 + 2**192 + 2**96 - 1,
        0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
        0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
        0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5,
    ),
    bytes.fromhex("2b81040022"): (
        2**384 - 2**128 - 2**96 + 2**32 - 1,
        int(
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF"
            "C7634D81F4372DDF581A0DB248B0A77AECEC196ACCC52973",
            16,
        ),
        int(
            "AA87CA22BE8B05378EB1C71EF320AD746E1D3B628BA79B98"
            "59F741E082542A385502F25DBF55296C3A545E3872760AB7",
            16,
        ),
        int(
            "3617DE4A96262C6F5D9E98BF9292DC29F8F41DBD289A147C"
            "E9DA3113B5F0B8C00A60B1CE1D7E819D7A431D7C90EA0E5F",
            16,
        ),
    ),
}


def _signed_parts(cert_der):
    """(tbs bytes, signature algorithm OID, signature bytes) of a certificate."""
    _, pos, _ = _der_read(cert_der, 0)
    _, _, tbs_end = _der_read(cert_der, pos)
    tbs = cert_der[pos:tbs_end]
    _, alg_begin, alg_end = _der_read(cert_der, tbs_end)
    oid, _ = _oid_in(cert_der, alg_begin, alg_end)
    _, sig_begin, sig_end = _der_read(cert_der, alg_end)
    if cert_der[sig_begin] != 0:  # unused bits of the BIT STRING
        raise ValueError("signature BIT STRING with unused bits")
    return tbs, oid, cert_der[sig_begin + 1 : sig_end]


def _int_at(data, begin, end):
    return int.from_bytes(data[begin:end], "big")


def _public_key(spki):
    """('rsa', n, e) or ('ec', curve, x, y)."""
    _, pos, end = _der_read(spki, 0)
    (_, alg_begin, alg_end), (_, bits_begin, bits_end) = _children(spki, pos, end)
    oid, params = _oid_in(spki, alg_begin, alg_end)
    key = spki[bits_begin + 1 : bits_end]
    if oid == _RSA_KEY:
        _, seq_begin, seq_end = _der_read(key, 0)
        (_, nb, ne), (_, eb, ee) = _children(key, seq_begin, seq_end)
        return ("rsa", _int_at(key, nb, ne), _int_at(key, eb, ee))
    if oid == _EC_KEY and params:
        curve = _CURVES.get(spki[params[0][1] : params[0][2]])
        if curve and key[:1] == b"\x04":
            size = (len(key) - 1) // 2
            x, y = key[1 : 1 + size], key[1 + size :]
            return ("ec", curve, int.from_bytes(x, "big"), int.from_bytes(y, "big"))
    return (None,)


def _rsa_ok(n, e, digest_name, tbs, sig):
    k = (n.bit_length() + 7) // 8
    if len(sig) != k:
        return False
    s = int.from_bytes(sig, "big")
    if s >= n:
        return False
    em = pow(s, e, n).to_bytes(k, "big")
    import hashlib

    info = _DIGEST_INFO[digest_name] + hashlib.new(digest_name, tbs).digest()
    want = b"\x00\x01" + b"\xff" * (k - len(info) - 3) + b"\x00" + info
    return len(want) == k and em == want


def _jacobian_double(pt, p):
    x, y, z = pt
    if not y:
        return (0, 1, 0)
    zz = z * z % p
    m = 3 * (x - zz) * (x + zz) % p  # a = -3 on both curves
    yy = y * y % p
    s = 4 * x * yy % p
    x3 = (m * m - 2 * s) % p
    return (x3, (m * (s - x3) - 8 * yy * yy) % p, 2 * y * z % p)


def _jacobian_add(p1, p2, p):
    if not p1[2]:
        return p2
    if not p2[2]:
        return p1
    x1, y1, z1 = p1
    x2, y2, z2 = p2
    z1z1, z2z2 = z1 * z1 % p, z2 * z2 % p
    u1, u2 = x1 * z2z2 % p, x2 * z1z1 % p
    s1, s2 = y1 * z2 * z2z2 % p, y2 * z1 * z1z1 % p
    h, r = (u2 - u1) % p, (s2 - s1) % p
    if not h:
        return _jacobian_double(p1, p) if not r else (0, 1, 0)
    hh = h * h % p
    hhh = h * hh % p
    v = u1 * hh % p
    x3 = (r * r - hhh - 2 * v) % p
    return (x3, (r * (v - x3) - s1 * hhh) % p, h * z1 * z2 % p)


def _ecdsa_ok(curve, qx, qy, digest_name, tbs, sig):
    p, n, gx, gy = curve
    _, begin, end = _der_read(sig, 0)
    (_, rb, re_), (_, sb, se) = _children(sig, begin, end)
    r, s = _int_at(sig, rb, re_), _int_at(sig, sb, se)
    if not (0 < r < n and 0 < s < n):
        return False
    import hashlib

    digest = hashlib.new(digest_name, tbs).digest()
    e = int.from_bytes(digest, "big") >> max(0, 8 * len(digest) - n.bit_length())
    w = pow(s, n - 2, n)
    u1, u2 = e * w % n, r * w % n
    # Shamir's trick: u1*G + u2*Q in one pass of doublings.
    g, q = (gx, gy, 1), (qx, qy, 1)
    gq = _jacobian_add(g, q, p)
    acc = (0, 1, 0)
    for bit in range(max(u1.bit_length(), u2.bit_length()) - 1, -1, -1):
        acc = _jacobian_double(acc, p)
        pick = ((u1 >> bit) & 1, (u2 >> bit) & 1)
        if pick == (1, 1):
            acc = _jacobian_add(acc, gq, p)
        elif pick == (1, 0):
            acc = _jacobian_add(acc, g, p)
        elif pick == (0, 1):
            acc = _jacobian_add(acc, q, p)
    x, _, z = acc
    if not z:
        return False
    zinv = pow(z, p - 2, p)
    return (x * zinv * zinv % p) % n == r


def self_signed(cert_der):
    """True when the certificate names itself as issuer and its signature
    checks with its own key. False for anything else, malformed input included."""
    try:
        _, _, fields = _tbs_fields(cert_der)
        if cert_der[fields[3][1] : fields[3][2]] != cert_der[fields[5][1] : fields[5][2]]:
            return False
        tbs, oid, sig = _signed_parts(cert_der)
        key = _public_key(cert_der[fields[6][1] : fields[6][2]])
        if key[0] == "rsa" and oid in _RSA_SIG:
            return _rsa_ok(key[1], key[2], _RSA_SIG[oid], tbs, sig)
        if key[0] == "ec" and oid in _ECDSA_SIG:
            return _ecdsa_ok(key[1], key[2], key[3], _ECDSA_SIG[oid], tbs, sig)
    except (IndexError, ValueError, TypeError, KeyError):
        return False
    return False


def roots_by_key(ders, spki_pins):
    """{spki sha256: (der, kind)} for the certificates among ders that carry a
    pinned key: kind 'self-signed' (signature checked; an anchor for every
    client) or 'cross-signed' (issued by another CA: an anchor only for
    clients that accept partial chains). A pinned key in a certificate whose
    self-signature fails is not counted. spki_pins: a set of hex digests."""
    found = {}
    for der in ders:
        try:
            pin = spki_sha256(der)
        except (IndexError, ValueError):
            continue
        if pin not in spki_pins or found.get(pin, (0, ""))[1] == "self-signed":
            continue
        try:
            names_self = issuer_der(der) == subject_der(der)
        except (IndexError, ValueError):
            continue
        if not names_self:
            found.setdefault(pin, (der, "cross-signed"))
        elif self_signed(der):
            found[pin] = (der, "self-signed")
    return found


def held_by_key(bundle_data, ders):
    """For each of ders (pinned roots): does the PEM bundle hold a self-signed
    certificate of the same key (signature checked)? The hook calls this only
    for roots its plain text search did not find."""
    pins = set()
    for der in ders:
        pins.add(spki_sha256(der))
    found = roots_by_key([der for _, der in pem_blocks(bundle_data)], pins)
    return [found.get(spki_sha256(der), (b"", ""))[1] == "self-signed" for der in ders]

"""Standard-library helpers shared by the package and the start-time hook.

Everything here must run on any python3 from 3.6 on, with nothing installed
and even on Debian's python3-minimal (no shutil, no json): scripts/gen-hook
inlines this file into the hook (src/ats_roots/hook/ats-hook), so the hook and `ats` share one copy.
Keep it to os, re, base64, hashlib, tempfile, fcntl, errno.
"""

import base64
import errno
import fcntl
import hashlib
import os
import re
import tempfile

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
            der = base64.b64decode(b"".join(cert.group(1).split()), validate=True)
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


def _check_gap(gap):
    for line in gap.splitlines():
        line = line.strip()
        if line and not line.startswith(b"#"):
            raise PemError("has text that is not PEM between or around its blocks")


def sha256_hex(der):
    return hashlib.sha256(der).hexdigest()


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
    fd, tmp = tempfile.mkstemp(prefix=".ats-", dir=directory)
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


class FileLock:
    """An exclusive flock on a file, so installs on one root serialize."""

    def __init__(self, path):
        self.path = path
        self.fd = None

    def __enter__(self):
        parent = os.path.dirname(self.path)
        if parent:
            # exist_ok: two installs starting at once both find it missing.
            os.makedirs(parent, 0o755, exist_ok=True)
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.fd, fcntl.LOCK_UN)
        os.close(self.fd)
        self.fd = None


def subject_hash_links(directory):
    """Existing OpenSSL hash link names in a directory, e.g. {'ce5e74ef.0'}."""
    try:
        names = os.listdir(directory)
    except OSError:
        return set()
    return {n for n in names if re.match(r"^[0-9a-f]{8}\.[0-9]+$", n)}


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
    digest = hashlib.sha1(canon).digest()  # noqa: S324 - OpenSSL's format, not security
    return "%08x" % int.from_bytes(digest[:4], "little")

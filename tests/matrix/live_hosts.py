"""Check 5 (LIVE=1 only): the real Amazon demo hosts, from inside an image.

good.scaNa.amazontrust.com must verify; expired.scaNa must fail on expiry;
revoked.scaNa must be reported revoked by its OCSP responder (TLS stacks do
not check revocation by themselves, so the check asks OCSP, as a client that
cares would). Needs the image's ats package for cryptography.

    live_hosts.py    one line a host; exit 0 when every host behaves, 3 without a network
"""

import socket
import ssl
import sys
import urllib.request

sys.path.insert(0, "/opt/ats-roots/lib")

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.x509 import ocsp  # noqa: E402

HOSTS = [(f"{kind}.sca{n}a.amazontrust.com", kind) for n in (1, 2, 3, 4)
         for kind in ("good", "expired", "revoked")]


def handshake(host, verify=True):
    ctx = ssl.create_default_context()
    if not verify:
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    with socket.create_connection((host, 443), timeout=10) as sock, \
            ctx.wrap_socket(sock, server_hostname=host) as tls:
        return tls.getpeercert(binary_form=True), tls


def ocsp_status(host):
    """'GOOD', 'REVOKED' or 'UNKNOWN' from the leaf's OCSP responder."""
    ctx = ssl.create_default_context()
    with socket.create_connection((host, 443), timeout=10) as sock, \
            ctx.wrap_socket(sock, server_hostname=host) as tls:
        chain = [_der(c) for c in _unverified_chain(tls)]
    if len(chain) < 2:
        raise RuntimeError("server sent no issuer; cannot ask OCSP")
    leaf, issuer = (x509.load_der_x509_certificate(c) for c in chain[:2])
    aia = leaf.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    url = next(d.access_location.value for d in aia
               if d.access_method == x509.oid.AuthorityInformationAccessOID.OCSP)
    req = ocsp.OCSPRequestBuilder().add_certificate(leaf, issuer, hashes.SHA1()).build()
    http = urllib.request.Request(url, data=req.public_bytes(serialization.Encoding.DER),
                                  headers={"Content-Type": "application/ocsp-request"})
    with urllib.request.urlopen(http, timeout=10) as resp:  # noqa: S310 - fixed https/http OCSP
        answer = ocsp.load_der_ocsp_response(resp.read())
    return answer.certificate_status.name


def _unverified_chain(tls):
    # Public from Python 3.13; on the private object in 3.10-3.12.
    if hasattr(tls, "get_unverified_chain"):
        return tls.get_unverified_chain()
    return tls._sslobj.get_unverified_chain() or []


def _der(cert):
    return cert if isinstance(cert, bytes) else cert.public_bytes(ssl._ssl.ENCODING_DER)


def check(host, kind):
    try:
        handshake(host)
        verified, error = True, ""
    except ssl.SSLCertVerificationError as exc:
        verified, error = False, exc.verify_message
    if kind == "good":
        return verified, "verified" if verified else error
    if kind == "expired":
        return (not verified and "expired" in error), error or "verified: should have failed"
    if not verified:
        return False, f"handshake failed ({error}); cannot reach the revocation question"
    status = ocsp_status(host)
    return status == "REVOKED", f"OCSP says {status}"


def main():
    try:
        socket.getaddrinfo("good.sca1a.amazontrust.com", 443)
    except OSError as exc:
        print(f"ats: error: no network: cannot resolve good.sca1a.amazontrust.com ({exc})")
        return 3
    bad = 0
    for host, kind in HOSTS:
        try:
            ok, why = check(host, kind)
        except OSError as exc:
            ok, why = False, f"network: {exc}"
        print(("ok   " if ok else "FAIL ") + f"{host}: {why}")
        bad += not ok
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())

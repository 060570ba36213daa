"""`ats probe ses`: a TLS handshake on every SES port, verified as a client would.

Each port is spoken to the way SES serves it: SMTP with STARTTLS on 25, 587
and 2587 (banner, EHLO, STARTTLS, then the handshake), TLS from the first
byte on 465 and 2465, HTTPS on 443 of email.REGION.amazonaws.com.  The host
name is checked; trust is the system store's unless a CA file is given.  A
success reports the verified chain up to the anchor it reached, so one sees
*which* root made it work; a failure reports OpenSSL's verification error and
the chain the server presented, so one sees which root is missing.

Ports are SES ports; `587=10587` keeps 587's protocol and host name but
connects to port 10587, and a resolve map {name: address} connects elsewhere
while still checking the name: together they aim the probe at a stand-in on
127.0.0.1.  Exit: 0 every port ok, 1 a verification or protocol failure,
3 no network (unresolvable, refused, unreachable, connect timeout).
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterable, Mapping

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from ats_roots import _portable, _smtp, errors
from ats_roots.errors import BadInput
from ats_roots.outcome import Outcome
from ats_roots.trust import calendar
from ats_roots.trust.roots import load_der_quietly, now, pinned_fingerprints

# SES port -> how TLS starts there.
SES_PORTS = {
    25: "starttls",
    587: "starttls",
    2587: "starttls",
    465: "tls",
    2465: "tls",
    443: "https",
}
REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
OK, VERIFY_FAILED, NETWORK, ERROR = "ok", "verify-failed", "network", "error"


# The server did not answer as SES does (the SMTP exchange is the hook's too).
ProtocolError = _smtp.SmtpError


def ses_host(region: str, port: int) -> str:
    kind = "email" if SES_PORTS[port] == "https" else "email-smtp"
    return f"{kind}.{region}.amazonaws.com"


def parse_ports(spec: str) -> dict[int, int]:
    """'465,587=10587' -> {465: 465, 587: 10587}: SES port -> port to connect to."""
    out = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        service, _, connect = item.partition("=")
        try:
            port, to = int(service), int(connect or service)
        except ValueError:
            raise BadInput(f"--ports {item!r}: give PORT or PORT=CONNECT_PORT") from None
        if port not in SES_PORTS:
            raise BadInput(f"--ports: {port} is not an SES port ({', '.join(map(str, SES_PORTS))})")
        if not 0 < to < 65536:
            raise BadInput(f"--ports {item!r}: no such port {to}")
        out[port] = to
    if not out:
        raise BadInput("--ports: no ports given")
    return out


def parse_resolve(items: Iterable[str]) -> dict[str, str]:
    """['NAME:ADDR', ...] -> {name: addr}; ADDR may be IPv6, bracketed or not."""
    out = {}
    for item in items:
        name, _, addr = item.partition(":")
        addr = addr.strip("[]")
        if not name or not addr:
            raise BadInput(f"--resolve {item!r}: give NAME:ADDRESS")
        out[name.lower()] = addr
    return out


def _port_map(ports) -> dict[int, int]:
    if ports is None:
        return {p: p for p in SES_PORTS}
    if isinstance(ports, str):
        return parse_ports(ports)
    if isinstance(ports, Mapping):
        return parse_ports(",".join(f"{k}={v}" for k, v in ports.items()))
    return parse_ports(",".join(str(p) for p in ports))


def client_context(cafile: str | None) -> ssl.SSLContext:
    """What a careful client uses: host name checked, the system store or cafile only."""
    try:
        return ssl.create_default_context(cafile=cafile)
    except (OSError, ssl.SSLError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else exc
        raise BadInput(f"--cafile {cafile}: cannot load ({reason})") from None


def probe_ses(
    region, ports=None, cafile=None, timeout=10, resolve=None, warn_days=365
) -> list[dict]:
    """One result per port; see probe_port for the fields."""
    if not REGION.fullmatch(region):
        raise BadInput(f"--region {region!r}: not an AWS region name like us-east-1")
    ctx = client_context(cafile)
    resolve = {k.lower(): v for k, v in (resolve or {}).items()}
    results = []
    for port, connect_port in _port_map(ports).items():
        host = ses_host(region, port)
        addr = resolve.get(host, host)
        results.append(probe_port(ctx, port, host, (addr, connect_port), timeout, warn_days))
    return results


def probe_port(
    ctx: ssl.SSLContext, port: int, host: str, addr: tuple, timeout: float, warn_days: int = 365
) -> dict:
    """{port, mode, host, connect, status, ok, error, ...}; on success also
    tls_version, cipher, chain (leaf first) and anchor; on a verification
    failure, presented (the chain the server sent)."""
    mode = SES_PORTS[port]
    result = {"port": port, "mode": mode, "host": host, "connect": f"{addr[0]}:{addr[1]}"}
    result.update(status=None, ok=False, error=None)
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except OSError as exc:
        return {**result, "status": NETWORK, "error": _network_error(exc, host, addr, timeout)}
    try:
        with sock, _start_tls(ctx, sock, host, mode, result) as tls:
            result.update(tls_version=tls.version(), cipher=tls.cipher()[0])
            chain, note = _verified_chain(tls, ctx)
            result["chain"] = [_describe(der) for der in chain]
            result["anchor"] = _anchor(chain) if not note else None
            # the roots' calendar (trust/calendar.py): what this chain depends on, soon due
            result["warnings"] = calendar.chain_warnings(chain, now(), warn_days)
            if note:
                result["note"] = note
            _after_handshake(tls, host, mode, result)
        result.update(status=OK, ok=True)
    except ssl.SSLCertVerificationError as exc:
        error = f"certificate verify failed: {exc.verify_message.rstrip('.')}"
        result.update(status=VERIFY_FAILED, error=error)
        result["presented"] = _presented_chain(host, mode, addr, timeout)
    except (OSError, ProtocolError) as exc:
        # After the connection is up, a timeout or reset is the server's doing.
        result.update(status=ERROR, error=_error_text(exc))
    return result


def _network_error(exc: OSError, host: str, addr: tuple, timeout: float) -> str:
    where = f"{host}:{addr[1]}" if addr[0] == host else f"{host} via {addr[0]}:{addr[1]}"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve {addr[0]}: {exc.strerror}"
    if isinstance(exc, socket.timeout):
        return f"{where}: no answer in {timeout:g}s"
    return f"{where}: {exc.strerror or exc}"


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ssl.SSLError):
        # '[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)' without the source line
        return "TLS: " + re.sub(r"\s*\(_ssl\.c:\d+\)$", "", str(exc))
    if isinstance(exc, socket.timeout):
        return "timed out waiting for the server"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc)


def _start_tls(ctx: ssl.SSLContext, sock: socket.socket, host: str, mode: str, result: dict):
    """The TLS socket after the handshake (which verifies chain and name)."""
    if mode == "starttls":
        result["banner"] = _smtp.starttls(sock)
    return ctx.wrap_socket(sock, server_hostname=host)


def _after_handshake(tls: ssl.SSLSocket, host: str, mode: str, result: dict) -> None:
    """Leave politely; on 443 also ask GET / to show HTTP answers over TLS.
    Neither decides the result: the handshake already has."""
    try:
        if mode == "https":
            tls.sendall(f"GET / HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
            status = tls.recv(4096).split(b"\r\n", 1)[0].decode("ascii", "replace")
            result["http_status"] = status
        else:
            # Wait for the 221 so the server sees an orderly close, not an EOF.
            tls.sendall(b"QUIT\r\n")
            tls.recv(4096)
    except (OSError, ValueError):
        pass


def _verified_chain(tls: ssl.SSLSocket, ctx: ssl.SSLContext) -> tuple[list[bytes], str | None]:
    """The chain OpenSSL verified, leaf to anchor, as DER; and a note if incomplete.

    Python 3.13 makes get_verified_chain() public; 3.10 to 3.12 have the same
    call on the private _sslobj.  3.9 gives only the leaf: climb from it
    through what the context trusts, which reaches the anchor only if the
    intermediates are in the store too."""
    public = getattr(tls, "get_verified_chain", None)
    if public is not None:
        return list(public()), None
    private = getattr(getattr(tls, "_sslobj", None), "get_verified_chain", None)
    if private is not None:
        import _ssl

        return [c.public_bytes(_ssl.ENCODING_DER) for c in private() or []], None
    chain = _climb(tls.getpeercert(binary_form=True), ctx.get_ca_certs(binary_form=True))
    if _is_self_signed(load_der_quietly(chain[-1])):
        return chain, None
    return chain, "Python < 3.10 cannot read the chain the server sent"


def _unverified_chain(tls: ssl.SSLSocket) -> list[bytes]:
    public = getattr(tls, "get_unverified_chain", None)
    if public is not None:
        return list(public())
    private = getattr(getattr(tls, "_sslobj", None), "get_unverified_chain", None)
    if private is not None:
        import _ssl

        return [c.public_bytes(_ssl.ENCODING_DER) for c in private() or []]
    return [tls.getpeercert(binary_form=True)]


def _climb(leaf: bytes, store: list[bytes]) -> list[bytes]:
    """leaf, then each issuer found in store whose key signed the one before."""
    by_subject: dict[x509.Name, list[tuple[bytes, x509.Certificate]]] = {}
    for der in store:
        cert = load_der_quietly(der)
        by_subject.setdefault(cert.subject, []).append((der, cert))
    chain, cert = [leaf], load_der_quietly(leaf)
    while not _is_self_signed(cert) and len(chain) < 10:
        for der, issuer in by_subject.get(cert.issuer, []):
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):  # not this issuer
                continue
            chain.append(der)
            cert = issuer
            break
        else:
            break
    return chain


def _is_self_signed(cert: x509.Certificate) -> bool:
    return cert.issuer == cert.subject


def _presented_chain(host: str, mode: str, addr: tuple, timeout: float) -> list[dict] | None:
    """What the server sends, read over a second, unverified connection.

    Only to name the certificates in the failure report: nothing is sent
    over it but QUIT or nothing at all.  Best effort: None if it fails."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    try:
        sock = socket.create_connection(addr, timeout=timeout)
        with sock, _start_tls(ctx, sock, host, mode, {}) as tls:
            return [_describe(der) for der in _unverified_chain(tls)]
    except (OSError, ProtocolError, ValueError):
        return None


def _name(name: x509.Name) -> str:
    """The readable part of a name: CN, else OU, else O, else all of it."""
    for oid in (NameOID.COMMON_NAME, NameOID.ORGANIZATIONAL_UNIT_NAME):
        attrs = name.get_attributes_for_oid(oid)
        if attrs:
            return str(attrs[0].value)
    attrs = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _describe(der: bytes) -> dict:
    cert = load_der_quietly(der)
    return {
        "name": _name(cert.subject),
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "issuer_name": _name(cert.issuer),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": _portable.colon_hex(_portable.sha256_hex(cert.public_bytes(Encoding.DER))),
    }


def _anchor(chain: list[bytes]) -> dict | None:
    """The last certificate of the verified chain: the store entry trust stopped at."""
    if not chain:
        return None
    sha = _portable.sha256_hex(chain[-1])
    pinned = pinned_fingerprints().get(sha)
    info = _describe(chain[-1])
    return {
        "name": pinned or info["name"],
        "subject": info["subject"],
        "sha256": info["sha256"],
        "ats_root": pinned is not None,
    }


def exit_code(results: list[dict]) -> int:
    """Failures of trust or protocol first; missing network only if nothing worse."""
    statuses = {r["status"] for r in results}
    if statuses & {VERIFY_FAILED, ERROR}:
        return errors.VERIFY_FAILED
    if NETWORK in statuses:
        return errors.ENV_REFUSES
    return errors.OK


def format_text(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        head = f"{'ok' if r['ok'] else 'FAIL':4}  {r['port']:<5} {r['mode']:8}  {r['host']}"
        if r["connect"] != f"{r['host']}:{r['port']}":
            head += f" (via {r['connect']})"
        if r["ok"]:
            lines.append(f"{head}  {r['tls_version']}")
            lines.append("      chain   " + " <- ".join(c["name"] for c in r["chain"]))
            anchor = r["anchor"]
            if anchor:
                kind = "Amazon Trust Services root" if anchor["ats_root"] else "not an ATS root"
                lines.append(f"      anchor  {anchor['name']} ({kind}; SHA-256 {anchor['sha256']})")
            else:
                lines.append(f"      anchor  unknown ({r.get('note')})")
            lines += [f"      warning {w}" for w in r.get("warnings", [])]
        else:
            lines.append(f"{head}  {r['error']}")
            served = r.get("presented")
            if served:
                names = " <- ".join(c["name"] for c in served)
                lines.append(f"      served  {names} (issued by {served[-1]['issuer_name']})")
    return lines


def _failure_line(results: list[dict]) -> str | None:
    """The one line for stderr: what failed, on which ports, and what to do."""
    bad = [r for r in results if not r["ok"]]
    if not bad:
        return None
    worst = [r for r in bad if r["status"] != NETWORK] or bad
    first = worst[0]
    ports = f"(port{'s' if len(worst) > 1 else ''} {', '.join(str(r['port']) for r in worst)})"
    if first["status"] == NETWORK:
        return f"no network: {first['error']} {ports}"
    if first["status"] == VERIFY_FAILED:
        hint = ""
        if "Hostname mismatch" not in first["error"]:
            hint = "; trust the root that issued it (`ats install`, --extra-ca for a private CA)"
        return f"TLS verification failed {ports}: {first['error']}{hint}"
    return f"probe failed {ports}: {first['error']}"


def probe(
    service: str = "ses",
    region: str = "us-east-1",
    ports: str | None = None,
    cafile: str | None = None,
    timeout: float = 10.0,
    resolve: Iterable[str] = (),
    warn_days: int = 365,
) -> Outcome:
    if warn_days < 0:
        raise BadInput(f"--warn-days {warn_days}: give a number of days, 0 or more")
    results = probe_ses(region, ports, cafile, timeout, parse_resolve(resolve), warn_days)
    code = exit_code(results)
    doc = {"service": service, "region": region, "ok": code == errors.OK, "ports": results}
    lines = []
    # With no network at all, the one error line is the whole report.
    if not all(r["status"] == NETWORK for r in results):
        ok = sum(r["ok"] for r in results)
        lines = [*format_text(results), f"{service} {region}: {ok} of {len(results)} ports ok"]
    return Outcome(lines, doc, code, _failure_line(results))

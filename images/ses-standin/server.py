#!/usr/bin/env python3
"""A local stand-in for Amazon SES, to test TLS trust end to end without the internet.

One process serves every SES port with one certificate chain:
  SMTP with STARTTLS on 25, 587, 2587; SMTP over implicit TLS on 465, 2465;
  HTTPS on 443 (the SES v1 Query API and the v2 REST API's SendEmail).
Run it on a private docker network under the real host names (network
aliases email-smtp.REGION.amazonaws.com and email.REGION.amazonaws.com) so a
client verifies it exactly as it would verify Amazon.

Standard library only (the base images have no pip); Python 3.9 or later.

Configuration (argument, else environment, else default):
  --host    STANDIN_HOST    bind address                      0.0.0.0
  --pki     STANDIN_PKI     dir holding chain.pem and key.pem /pki
  --spool   STANDIN_SPOOL   dir for messages.jsonl            /spool
  --ports   STANDIN_PORTS   SES ports to serve                25,587,2587,465,2465,443
            Each entry is SERVICE or SERVICE=LISTEN: the SES port decides the
            protocol, LISTEN where to listen (0 = any free port).
  STANDIN_SMTP_USER, STANDIN_SMTP_PASSWORD: when set, AUTH must match them;
            otherwise any non-empty user name and password are accepted.

Once every port listens it prints one line to stdout:
  ready {"ports": {"25": 25, "587": 587, ...}}
Logs go to stderr.  Every accepted message (SMTP DATA, v1 SendEmail or
SendRawEmail, v2 outbound-emails) is appended to SPOOL/messages.jsonl as one
JSON object per line; GET /_standin/messages on the HTTPS port returns it.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import datetime
import json
import os
import re
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

# SES port -> protocol, as Amazon serves them.
PROTOCOLS = {25: "smtp", 587: "smtp", 2587: "smtp", 465: "smtps", 2465: "smtps", 443: "https"}
DEFAULT_PORTS = "25,587,2587,465,2465,443"
SMTP_NAME = "email-smtp.amazonaws.com"
MAX_MESSAGE = 10 * 1024 * 1024  # SES's SMTP limit
MAX_REQUEST = 40 * 1024 * 1024  # SES v2's limit
MAX_LINE = 64 * 1024  # far above RFC 5321's 1000, still bounded
MAX_RECIPIENTS = 50  # SES's limit per message
IDLE_TIMEOUT = 60.0
SES_XMLNS = "http://ses.amazonaws.com/doc/2010-12-01/"
SIGV4 = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<access_key>[^/\s]+)/(?P<date>\d{8})/(?P<region>[^/\s]+)"
    r"/(?P<service>[^/\s]+)/aws4_request,\s*SignedHeaders=(?P<signed_headers>[a-z0-9;-]+),"
    r"\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


def log(text: str) -> None:
    print(f"ses-standin: {text}", file=sys.stderr, flush=True)


def new_message_id() -> str:
    """Shaped like SES's: time in hex, a UUID, a sequence suffix."""
    return f"{int(time.time() * 1000):016x}-{uuid.uuid4()}-000000"


class Spool:
    """Append-only JSON lines; one lock since handlers run in threads."""

    def __init__(self, directory: str):
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, "messages.jsonl")
        self.lock = threading.Lock()

    def record(self, entry: dict) -> None:
        now = datetime.datetime.now(datetime.timezone.utc)
        line = json.dumps({"time": now.isoformat(), **entry}, sort_keys=True) + "\n"
        with self.lock, open(self.path, "a", encoding="utf-8") as f:
            f.write(line)

    def read(self) -> bytes:
        with self.lock:
            try:
                with open(self.path, "rb") as f:
                    return f.read()
            except FileNotFoundError:
                return b""


class App:
    """What every handler shares."""

    def __init__(self, tls: ssl.SSLContext, spool: Spool, user=None, password=None):
        self.tls = tls
        self.spool = spool
        self.user = user
        self.password = password

    def credentials_ok(self, user: str, password: str) -> bool:
        if not user or not password:
            return False
        if self.user is None:
            return True
        return (user, password) == (self.user, self.password)


class Closed(Exception):
    """The client went away."""


class LineConn:
    """Line I/O over a socket that can switch to TLS mid-stream.

    Own buffer rather than socket.makefile(): at STARTTLS we must know whether
    the client pipelined plaintext after the command, and drop it (the
    CVE-2011-0411 command injection)."""

    def __init__(self, sock: socket.socket):
        self.sock = sock
        self.buf = bytearray()
        self.pos = 0

    def readline(self) -> bytes:
        while True:
            end = self.buf.find(b"\n", self.pos)
            if end >= 0:
                line = bytes(self.buf[self.pos : end])
                self.pos = end + 1
                return line.rstrip(b"\r")
            del self.buf[: self.pos]
            self.pos = 0
            if len(self.buf) > MAX_LINE:
                raise Closed("line too long")
            try:
                data = self.sock.recv(65536)
            except (ssl.SSLEOFError, ConnectionResetError):
                # A client that hangs up without close_notify: common, not an error.
                raise Closed("end of stream") from None
            if not data:
                raise Closed("end of stream")
            self.buf += data

    def send(self, text: str) -> None:
        self.sock.sendall(text.encode("utf-8") + b"\r\n")

    def start_tls(self, ctx: ssl.SSLContext) -> None:
        if len(self.buf) > self.pos:
            log("dropping plaintext the client sent before the TLS handshake")
        self.buf.clear()
        self.pos = 0
        self.sock = ctx.wrap_socket(self.sock, server_side=True)


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, listen: int, service_port: int, handler, app: App):
        self.service_port = service_port
        self.app = app
        if ":" in host:
            self.address_family = socket.AF_INET6
        super().__init__((host, listen), handler)

    def handle_error(self, request, client_address):
        # One line, not a traceback: a client refusing our certificate is an
        # expected outcome of the tests, and this is where it shows.
        exc = sys.exc_info()[1]
        log(f"port {self.service_port}: {client_address[0]}: {type(exc).__name__}: {exc}")


class SmtpHandler(socketserver.BaseRequestHandler):
    """ESMTP as SES answers it: AUTH only under TLS, MAIL only after AUTH."""

    def setup(self):
        self.app: App = self.server.app
        self.port = self.server.service_port
        self.request.settimeout(IDLE_TIMEOUT)
        self.conn = LineConn(self.request)
        self.tls = None
        if PROTOCOLS[self.port] == "smtps":
            # Handshake here, in the connection's thread, never in the accept loop.
            self.conn.start_tls(self.app.tls)
            self.tls = "implicit"
        self.helo = None
        self.user = None
        self.reset_transaction()

    def finish(self):
        self.conn.sock.close()

    def reset_transaction(self):
        self.mail_from = None
        self.rcpt_to = []

    def handle(self):
        self.conn.send(f"220 {SMTP_NAME} ESMTP SimpleEmailService-standin")
        try:
            while True:
                line = self.conn.readline().decode("utf-8", "replace")
                verb, _, arg = line.partition(" ")
                command = getattr(self, "smtp_" + verb.upper(), None) if verb.isalpha() else None
                if command is None:
                    self.conn.send("502 5.5.2 Error: command not recognized")
                elif command(arg.strip()) is Closed:
                    return
        except Closed:
            return

    def smtp_EHLO(self, arg):
        if not arg:
            return self.conn.send("501 5.5.4 Syntax: EHLO hostname")
        self.helo = arg
        self.reset_transaction()
        lines = [SMTP_NAME, f"SIZE {MAX_MESSAGE}", "8BITMIME"]
        lines.append("AUTH PLAIN LOGIN" if self.tls else "STARTTLS")
        lines.append("Ok")
        for line in lines[:-1]:
            self.conn.send("250-" + line)
        self.conn.send("250 " + lines[-1])

    def smtp_HELO(self, arg):
        if not arg:
            return self.conn.send("501 5.5.4 Syntax: HELO hostname")
        self.helo = arg
        self.reset_transaction()
        self.conn.send(f"250 {SMTP_NAME}")

    def smtp_STARTTLS(self, arg):
        if self.tls:
            return self.conn.send("503 5.5.1 Error: TLS already active")
        if arg:
            return self.conn.send("501 5.5.4 Syntax: STARTTLS")
        self.conn.send("220 Ready to start TLS")
        self.conn.start_tls(self.app.tls)
        self.tls = "starttls"
        # RFC 3207: forget everything learnt before the handshake.
        self.helo = None
        self.user = None
        self.reset_transaction()

    def smtp_AUTH(self, arg):
        if not self.tls:
            return self.conn.send("530 Must issue a STARTTLS command first")
        if self.helo is None:
            return self.conn.send("503 5.5.1 Error: send HELO/EHLO first")
        if self.user is not None:
            return self.conn.send("503 5.5.1 Error: already authenticated")
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        try:
            if mechanism == "PLAIN":
                user, password = self.auth_plain(initial.strip())
            elif mechanism == "LOGIN":
                user, password = self.auth_login(initial.strip())
            else:
                return self.conn.send("504 5.5.4 Unrecognized authentication type")
        except ValueError as exc:
            return self.conn.send(f"501 5.5.2 {exc}")
        if not self.app.credentials_ok(user, password):
            return self.conn.send("535 Authentication Credentials Invalid")
        self.user = user
        self.conn.send("235 Authentication successful.")

    def challenge(self, prompt: str) -> str:
        self.conn.send(f"334 {prompt}")
        answer = self.conn.readline().decode("ascii", "replace").strip()
        if answer == "*":
            raise ValueError("Authentication cancelled")
        return answer

    def auth_plain(self, initial: str):
        parts = b64text(initial or self.challenge("")).split("\0")
        if len(parts) != 3:
            raise ValueError("Cannot decode response")
        return parts[1], parts[2]

    def auth_login(self, initial: str):
        user = b64text(initial or self.challenge("VXNlcm5hbWU6"))  # "Username:"
        return user, b64text(self.challenge("UGFzc3dvcmQ6"))  # "Password:"

    def smtp_MAIL(self, arg):
        if not self.tls:
            return self.conn.send("530 Must issue a STARTTLS command first")
        if self.user is None:
            return self.conn.send("530 Authentication required")
        if self.mail_from is not None:
            return self.conn.send("503 5.5.1 Error: nested MAIL command")
        match = re.match(r"FROM:\s*<([^>]*)>", arg, re.I)
        if not match:
            return self.conn.send("501 5.5.4 Syntax: MAIL FROM:<address>")
        self.mail_from = match.group(1)
        self.conn.send("250 Ok")

    def smtp_RCPT(self, arg):
        if self.mail_from is None:
            return self.conn.send("503 5.5.1 Error: need MAIL command")
        match = re.match(r"TO:\s*<([^>]+)>", arg, re.I)
        if not match:
            return self.conn.send("501 5.5.4 Syntax: RCPT TO:<address>")
        if len(self.rcpt_to) >= MAX_RECIPIENTS:
            return self.conn.send("452 4.5.3 Error: too many recipients")
        self.rcpt_to.append(match.group(1))
        self.conn.send("250 Ok")

    def smtp_DATA(self, arg):
        if arg:
            return self.conn.send("501 5.5.4 Syntax: DATA")
        if not self.rcpt_to:
            return self.conn.send("503 5.5.1 Error: need RCPT command")
        self.conn.send("354 End data with <CR><LF>.<CR><LF>")
        data = self.read_data()
        if data is None:
            self.reset_transaction()
            return self.conn.send("552 5.3.4 Error: message too big")
        message_id = new_message_id()
        self.app.spool.record(
            {
                "kind": "smtp",
                "port": self.port,
                "tls": self.tls,
                "peer": self.client_address[0],
                "helo": self.helo,
                "auth_user": self.user,
                "mail_from": self.mail_from,
                "rcpt_to": self.rcpt_to,
                "message_id": message_id,
                "data": data.decode("utf-8", "replace"),
            }
        )
        self.reset_transaction()
        self.conn.send(f"250 Ok {message_id}")

    def read_data(self):
        """The message up to the lone dot, un-dot-stuffed; None if too big."""
        lines, size = [], 0
        while True:
            line = self.conn.readline()
            if line == b".":
                break
            if line.startswith(b"."):
                line = line[1:]
            size += len(line) + 2
            if size <= MAX_MESSAGE:
                lines.append(line)
        return None if size > MAX_MESSAGE else b"".join(x + b"\r\n" for x in lines)

    def smtp_RSET(self, arg):
        self.reset_transaction()
        self.conn.send("250 Ok")

    def smtp_NOOP(self, arg):
        self.conn.send("250 Ok")

    def smtp_QUIT(self, arg):
        self.conn.send("221 Bye")
        return Closed


def b64text(text: str) -> str:
    try:
        return base64.b64decode(text, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        raise ValueError("Cannot decode response") from None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class HttpsHandler(BaseHTTPRequestHandler):
    """email.REGION.amazonaws.com: the v1 Query API, v2 SendEmail, GET / for health."""

    server_version = "SES-standin"
    sys_version = ""
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT

    def setup(self):
        # Handshake in the connection's thread, as for SMTP.
        self.request.settimeout(IDLE_TIMEOUT)
        self.request = self.server.app.tls.wrap_socket(self.request, server_side=True)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            self.request.close()

    def log_message(self, fmt, *args):
        log(f"port {self.server.service_port}: {self.client_address[0]}: {fmt % args}")

    def do_GET(self):
        path = urlsplit(self.path).path
        if path == "/":
            self.respond(200, "text/plain", b"SES stand-in: healthy\n")
        elif path == "/_standin/messages":
            self.respond(200, "application/x-ndjson", self.server.app.spool.read())
        else:
            self.respond(404, "text/plain", b"not found\n")

    def do_POST(self):
        path = urlsplit(self.path).path
        v2 = path == "/v2/email/outbound-emails"
        try:
            body = self.read_body()
            if path not in ("/", "/v2/email/outbound-emails"):
                raise ApiError(404, "NotFoundException", f"no API at {path}")
            sigv4 = self.check_sigv4()
            entry = self.ses_v2(body) if v2 else self.ses_v1(body)
        except ApiError as exc:
            return self.api_error(exc, v2)
        message_id = new_message_id()
        entry.update(
            message_id=message_id,
            port=self.server.service_port,
            host=self.headers.get("Host"),
            peer=self.client_address[0],
            sigv4=sigv4,
        )
        self.server.app.spool.record(entry)
        if v2:
            return self.respond(200, "application/json", json.dumps({"MessageId": message_id}))
        action = entry["action"]
        self.respond(
            200,
            "text/xml",
            f'<{action}Response xmlns="{SES_XMLNS}">\n'
            f"  <{action}Result><MessageId>{message_id}</MessageId></{action}Result>\n"
            f"  <ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId></ResponseMetadata>\n"
            f"</{action}Response>\n",
        )

    def read_body(self) -> bytes:
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            raise ApiError(411, "MissingContentLength", "Content-Length required") from None
        if length < 0 or length > MAX_REQUEST:
            raise ApiError(413, "RequestEntityTooLarge", "request too large")
        return self.rfile.read(length)

    def check_sigv4(self) -> dict:
        """Present and well formed, scoped to ses and this host's region.  The
        signature itself is not checked: the stand-in knows no secret keys."""
        header = self.headers.get("Authorization")
        if not header:
            raise ApiError(
                403, "MissingAuthenticationToken", "Request is missing Authentication Token"
            )
        match = SIGV4.match(header.strip())
        if not match:
            raise ApiError(403, "IncompleteSignature", "Authorization is not a SigV4 header")
        sig = match.groupdict()
        if sig["service"] != "ses":
            raise ApiError(403, "SignatureDoesNotMatch", "Credential should be scoped to 'ses'")
        host = re.match(r"email\.([a-z0-9-]+)\.amazonaws\.com", self.headers.get("Host", ""))
        if host and host.group(1) != sig["region"]:
            raise ApiError(
                403, "SignatureDoesNotMatch", f"Credential should be scoped to {host.group(1)}"
            )
        return {k: v for k, v in sig.items() if k != "signature"}

    def ses_v1(self, body: bytes) -> dict:
        form = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
        params = {k: v[0] for k, v in form.items()}
        action = params.get("Action")

        def members(prefix):
            return [v for k, v in sorted(params.items()) if k.startswith(prefix + ".member.")]

        if action == "SendEmail":
            if not params.get("Source"):
                raise ApiError(400, "InvalidParameterValue", "Missing required parameter Source")
            dest = [members(f"Destination.{f}Addresses") for f in ("To", "Cc", "Bcc")]
            rcpt = [a for group in dest for a in group]
            data = params.get("Message.Body.Text.Data") or params.get("Message.Body.Html.Data")
            subject = params.get("Message.Subject.Data")
        elif action == "SendRawEmail":
            raw = params.get("RawMessage.Data")
            if not raw:
                raise ApiError(400, "InvalidParameterValue", "Missing RawMessage.Data")
            data, subject, rcpt = decode_raw(raw), None, members("Destinations")
        else:
            raise ApiError(400, "InvalidAction", f"Unknown action {action!r}")
        if not rcpt and action == "SendEmail":
            raise ApiError(400, "InvalidParameterValue", "Missing final '@domain'")
        return {
            "kind": "ses-v1",
            "action": action,
            "mail_from": params.get("Source"),
            "rcpt_to": rcpt,
            "subject": subject,
            "data": data,
            "params": params,
        }

    def ses_v2(self, body: bytes) -> dict:
        try:
            req = json.loads(body or b"{}")
        except ValueError:
            raise ApiError(400, "BadRequestException", "body is not JSON") from None
        if not isinstance(req, dict):
            raise ApiError(400, "BadRequestException", "body is not a JSON object")
        dest = req.get("Destination") or {}
        rcpt = [a for f in ("To", "Cc", "Bcc") for a in dest.get(f + "Addresses") or []]
        content = req.get("Content") or {}
        simple, raw = content.get("Simple"), content.get("Raw")
        if simple:
            body_part = simple.get("Body") or {}
            part = body_part.get("Text") or body_part.get("Html") or {}
            data, subject = part.get("Data"), (simple.get("Subject") or {}).get("Data")
        elif raw and raw.get("Data"):
            data, subject = decode_raw(raw["Data"]), None
        else:
            raise ApiError(400, "BadRequestException", "Content needs Simple or Raw")
        return {
            "kind": "ses-v2",
            "action": "SendEmail",
            "mail_from": req.get("FromEmailAddress"),
            "rcpt_to": rcpt,
            "subject": subject,
            "data": data,
            "request": req,
        }

    def api_error(self, exc: ApiError, v2: bool) -> None:
        if v2:
            body = json.dumps({"message": exc.message})
            return self.respond(
                exc.status, "application/json", body, {"x-amzn-ErrorType": exc.code}
            )
        kind = "Sender" if exc.status < 500 else "Receiver"
        self.respond(
            exc.status,
            "text/xml",
            f'<ErrorResponse xmlns="{SES_XMLNS}">\n'
            f"  <Error><Type>{kind}</Type><Code>{exc.code}</Code>"
            f"<Message>{escape(exc.message)}</Message></Error>\n"
            f"  <RequestId>{uuid.uuid4()}</RequestId>\n</ErrorResponse>\n",
        )

    def respond(self, status: int, ctype: str, body, headers=None) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)


def decode_raw(data: str) -> str:
    try:
        return base64.b64decode(data, validate=True).decode("utf-8", "replace")
    except (binascii.Error, ValueError):
        raise ApiError(400, "InvalidParameterValue", "RawMessage.Data is not base64") from None


HANDLERS = {"smtp": SmtpHandler, "smtps": SmtpHandler, "https": HttpsHandler}


def parse_ports(spec: str) -> list[tuple[int, int]]:
    """'25,587=10587' -> [(25, 25), (587, 10587)]."""
    out = []
    for item in filter(None, (s.strip() for s in spec.split(","))):
        service, _, listen = item.partition("=")
        try:
            pair = (int(service), int(listen or service))
        except ValueError:
            raise SystemExit(
                f"ses-standin: bad port {item!r}: give SERVICE or SERVICE=LISTEN"
            ) from None
        if pair[0] not in PROTOCOLS:
            raise SystemExit(f"ses-standin: {pair[0]} is not an SES port: {sorted(PROTOCOLS)}")
        out.append(pair)
    if not out:
        raise SystemExit("ses-standin: no ports to serve")
    return out


def server_context(pki: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2  # what SES requires of clients
    try:
        ctx.load_cert_chain(os.path.join(pki, "chain.pem"), os.path.join(pki, "key.pem"))
    except (OSError, ssl.SSLError) as exc:
        raise SystemExit(f"ses-standin: cannot load {pki}/chain.pem and key.pem: {exc}") from None
    return ctx


def parse_args(argv):
    env = os.environ.get
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    # All interfaces by default: in its container the stand-in must answer
    # on the docker network under its aliases.
    p.add_argument("--host", default=env("STANDIN_HOST", "0.0.0.0"))  # noqa: S104
    p.add_argument("--pki", default=env("STANDIN_PKI", "/pki"))
    p.add_argument("--spool", default=env("STANDIN_SPOOL", "/spool"))
    p.add_argument("--ports", default=env("STANDIN_PORTS", DEFAULT_PORTS))
    p.add_argument("--healthcheck", action="store_true", help="exit 0 if the SMTP banner answers")
    return p.parse_args(argv)


def healthcheck(args) -> int:
    """Read the banner of the first plain SMTP port (a TLS port would log a
    failed handshake on every check)."""
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::", "") else args.host  # noqa: S104
    ports = parse_ports(args.ports)
    smtp = [listen for service, listen in ports if PROTOCOLS[service] == "smtp"]
    listen = (smtp or [ports[0][1]])[0]
    try:
        with socket.create_connection((host, listen), timeout=3) as sock:
            if smtp:
                ok = sock.recv(512).startswith(b"220 ")
                sock.sendall(b"QUIT\r\n")
                return 0 if ok else 1
            return 0
    except OSError as exc:
        print(f"unhealthy: {exc}", file=sys.stderr)
        return 1


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.healthcheck:
        return healthcheck(args)
    app = App(
        server_context(args.pki),
        Spool(args.spool),
        os.environ.get("STANDIN_SMTP_USER"),
        os.environ.get("STANDIN_SMTP_PASSWORD"),
    )
    # As PID 1 in a container SIGTERM has no default action: handle it, or
    # `docker stop` waits its full timeout.  Installed before "ready" is said.
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    servers = []
    for service, listen in parse_ports(args.ports):
        server = Server(args.host, listen, service, HANDLERS[PROTOCOLS[service]], app)
        servers.append(server)
        # A short poll keeps shutdown() (one per port, in turn) quick on SIGTERM.
        serve = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
        serve.start()
        log(
            f"{PROTOCOLS[service]} for SES port {service} on {args.host}:{server.server_address[1]}"
        )
    ports = {str(s.service_port): s.server_address[1] for s in servers}
    print("ready " + json.dumps({"ports": ports}), flush=True)
    while not stop.wait(3600):
        pass
    for server in servers:
        server.shutdown()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())

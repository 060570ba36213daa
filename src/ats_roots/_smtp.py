"""Just enough SMTP to reach a TLS handshake (STARTTLS), shared by
`ats probe ses` and the hook's --preflight-ses: greeting, EHLO, STARTTLS.

Replies are read straight off the socket, never through a buffered reader,
so no byte of the TLS handshake that follows can be swallowed by one.

Standard library only, Python 3.6 grammar: scripts/gen-hook inlines this
file into the start-time hook.
"""

import re

_REPLY = re.compile(r"\d{3}([ -]|$)")


class SmtpError(Exception):
    """The server did not answer as an SMTP server offering STARTTLS does."""


class Replies:
    """SMTP replies, read one at a time off a socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def read(self):
        """(code, [text of each line]) of the next reply."""
        lines = []
        while True:
            while b"\n" not in self.buf:
                data = self.sock.recv(4096)
                if not data:
                    raise SmtpError("the server closed the connection")
                self.buf += data
                if len(self.buf) > 65536:
                    raise SmtpError("an SMTP reply line over 64 KiB")
            raw, self.buf = self.buf.split(b"\n", 1)
            line = raw.rstrip(b"\r").decode("utf-8", "replace")
            if not _REPLY.match(line):
                raise SmtpError("not an SMTP reply: %r" % line[:80])
            lines.append(line[4:])
            if line[3:4] != "-":
                return int(line[:3]), lines

    def expect(self, code, what):
        got, lines = self.read()
        if got != code:
            raise SmtpError("%s: %d %s" % (what, got, " ".join(lines)[:200]))
        return lines


def starttls(sock):
    """Greeting, EHLO, STARTTLS on a connected socket; returns the greeting.
    Raises SmtpError; the caller then starts TLS on sock."""
    replies = Replies(sock)
    banner = replies.expect(220, "banner")[0]
    sock.sendall(b"EHLO " + ehlo_name(sock).encode() + b"\r\n")
    extensions = replies.expect(250, "EHLO")[1:]
    if not any(e.upper().split()[:1] == ["STARTTLS"] for e in extensions):
        raise SmtpError("the server does not offer STARTTLS")
    sock.sendall(b"STARTTLS\r\n")
    replies.expect(220, "STARTTLS")
    if replies.buf:
        raise SmtpError("the server sent data before the TLS handshake")
    return banner


def ehlo_name(sock):
    """Our address as an RFC 5321 literal: right without any DNS lookup."""
    addr = sock.getsockname()[0]
    return "[IPv6:%s]" % addr if ":" in addr else "[%s]" % addr

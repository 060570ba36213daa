"""Reading Postfix's configuration as Postfix does: main.cf (name = value,
continuation lines start with white space, comments start a line),
$name/${name}/$(name) expansion, master.cf's -o overrides, and the text
sources of smtp_tls_policy_maps tables."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ats_roots.audit.mail.check import Ctx

# Postfix's defaults for what trust settings refer to; config_directory is per instance.
DEFAULTS = {
    "queue_directory": "/var/spool/postfix",
    "data_directory": "/var/lib/postfix",
    "default_transport": "smtp",
    "tls_append_default_CA": "no",
    "smtp_tls_enforce_peername": "yes",
}
_VAR = re.compile(r"\$(?:\{(\w+)(?:([?:])([^}]*))?\}|\((\w+)(?:([?:])([^)]*))?\)|(\w+)|\$)")
# Table types whose source is a text file "key value" next to the compiled one.
TEXT_SOURCED = {"hash", "btree", "lmdb", "cdb", "dbm", "sdbm", "texthash"}


def logical_lines(text: str) -> list[str]:
    out: list[str] = []
    for raw in text.splitlines():
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if raw[0] in " \t" and out:
            out[-1] += " " + stripped
        else:
            out.append(stripped)
    return out


def parse_main(text: str) -> dict[str, str]:
    """The last assignment of each name wins, as in Postfix."""
    params = {}
    for line in logical_lines(text):
        name, eq, value = line.partition("=")
        if eq and name.strip():
            params[name.strip()] = value.strip()
    return params


def expand(value: str, params: dict[str, str], depth: int = 0) -> str:
    def one(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group(1) or m.group(4) or m.group(7)
        op = m.group(2) or m.group(5)
        alt = m.group(3) if m.group(1) else m.group(6)
        got = params.get(name, DEFAULTS.get(name, ""))
        if depth < 10:
            got = expand(got, params, depth + 1)
        if op == "?":
            return expand(alt or "", params, depth + 1) if got else ""
        if op == ":":
            return "" if got else expand(alt or "", params, depth + 1)
        return got

    return _VAR.sub(one, value)


def yes(value: str) -> bool:
    return value.strip().lower() in ("yes", "true", "1", "on")


@dataclass
class Service:
    """A master.cf entry; only smtp(8) ones matter here."""

    name: str
    kind: str  # unix, inet, ...
    chroot: str  # y, n or - (n since Postfix 3.0)
    command: str
    overrides: dict[str, str] = field(default_factory=dict)  # -o name=value


_OPT = re.compile(r"-o\s*(?:\{\s*([^\s=}]+)\s*=\s*([^}]*?)\s*\}|([^\s=]+)=(\S*))")


def parse_master(text: str) -> list[Service]:
    out = []
    for line in logical_lines(text):
        fields = line.split()
        if len(fields) < 8:
            continue
        service = Service(fields[0], fields[1], fields[4], fields[7])
        for m in _OPT.finditer(" ".join(fields[8:])):
            if m.group(1):
                service.overrides[m.group(1)] = m.group(2)
            else:
                service.overrides[m.group(3)] = m.group(4)
        out.append(service)
    return out


_TABLE = re.compile(r"inline:\{(?:[^{}]|\{[^{}]*\})*\}|[^\s,]+")


def policy_lookup(ctx: Ctx, maps: str, keys: list[str]) -> tuple[str, str] | None:
    """(policy, table) for the first key a smtp_tls_policy_maps table has.
    Tables are read from their text source (hash:/etc/postfix/tls_policy reads
    /etc/postfix/tls_policy) or inline; other types are not followed."""
    for table in _TABLE.findall(maps):
        kind, _, name = table.partition(":")
        if kind == "inline":
            entries = _inline(name)
        elif kind in TEXT_SOURCED:
            entries = _entries(ctx.text(name) or "")
        else:
            continue
        for key in keys:
            if key.lower() in entries:
                return entries[key.lower()], table
    return None


def _inline(body: str) -> dict[str, str]:
    """inline:{ key=value, { key = value with spaces } }"""
    entries = {}
    for item in re.findall(r"\{([^{}]*)\}|([^{},]+)", body.strip()[1:-1]):
        key, eq, value = (item[0] or item[1]).partition("=")
        if eq:
            entries[key.strip().lower()] = value.strip()
    return entries


def _entries(text: str) -> dict[str, str]:
    entries = {}
    for line in logical_lines(text):
        key, *value = line.split(None, 1)
        entries.setdefault(key.lower(), value[0] if value else "")
    return entries

"""Reading an Exim configuration as Exim does, as far as trust settings
need: comments, backslash continuation lines, macros (defined, redefined
with ==, substituted in later lines), .ifdef/.ifndef/.elifdef/.else/.endif,
`begin SECTION` and driver instances (`name:`). Expansions are not run."""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass
class Line:
    file: str
    text: str


@dataclass
class Option:
    file: str
    section: str  # main, transports, routers, ...
    driver: str  # the transport or router instance; "" in main
    name: str
    value: str


_MACRO = re.compile(r"^([A-Z][A-Za-z0-9_]*)\s*(==?)\s*(.*)$")
_OPTION = re.compile(r"^(?:no_|not_)?([a-z][a-z0-9_]*)\s*(?:=\s*(.*))?$")
_DRIVER = re.compile(r"^([A-Za-z0-9_-]+)\s*:\s*$")


def logical_lines(file: str, text: str) -> list[Line]:
    out, pending = [], ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1]
            continue
        out.append(Line(file, pending + line))
        pending = ""
    if pending:
        out.append(Line(file, pending))
    return out


def evaluate(lines: list[Line], seeded: dict[str, str]) -> list[Option]:
    macros = dict(seeded)
    pattern = _pattern(macros)
    stack: list[list[bool]] = []  # per .if: [this branch on, a branch was taken]
    section, driver, out = "main", "", []
    for line in lines:
        text = line.text
        if text.startswith("."):
            _directive(text, stack, macros)
            continue
        if not all(on for on, _ in stack):
            continue
        m = _MACRO.match(text)
        if m and not text.startswith(("begin ",)):
            macros[m.group(1)] = _substitute(m.group(3), macros, pattern)
            pattern = _pattern(macros)
            continue
        text = _substitute(text, macros, pattern)
        if text.startswith("begin "):
            section, driver = text.split()[1], ""
            continue
        m = _DRIVER.match(text)
        if m and section != "main":
            driver = m.group(1)
            continue
        m = _OPTION.match(text)
        if m:
            out.append(Option(line.file, section, driver, m.group(1), m.group(2) or ""))
    return out


def _directive(text: str, stack: list[list[bool]], macros: dict[str, str]) -> None:
    word, _, rest = text.partition(" ")
    defined = any(name in macros for name in rest.split())
    if word in (".ifdef", ".ifndef"):
        on = defined if word == ".ifdef" else not defined
        stack.append([on, on])
    elif word in (".elifdef", ".elifndef") and stack:
        on = not stack[-1][1] and (defined if word == ".elifdef" else not defined)
        stack[-1] = [on, stack[-1][1] or on]
    elif word == ".else" and stack:
        stack[-1] = [not stack[-1][1], True]
    elif word == ".endif" and stack:
        stack.pop()


def _pattern(macros: dict[str, str]) -> re.Pattern | None:
    if not macros:
        return None
    names = "|".join(map(re.escape, sorted(macros, key=len, reverse=True)))
    return re.compile(rf"(?<![A-Za-z0-9_])({names})(?![A-Za-z0-9_])")


def _substitute(text: str, macros: dict[str, str], pattern: re.Pattern | None) -> str:
    return pattern.sub(lambda m: macros[m.group(1)], text) if pattern else text

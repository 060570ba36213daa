"""The matrix's results for people: one table per kind of row (images x
checks, patch rows x their checks, client rows x clients), a one-line
summary, skips grouped by reason, and the same as Markdown for a CI job's
page (results/matrix.md). Pure functions of the recorded cells."""

from __future__ import annotations

from collections import Counter, defaultdict

# Which table a test module's cells go to, in the order the tables print.
TABLES = {
    "images": "images x checks",
    "patch": "ats patch: patched images x checks",
    "clients": "SES clients: client images x clients",
}
MARKS = {"pass": "pass", "FAIL": "FAIL", "skipped": "skip"}


def table_of(module: str, row: str) -> str:
    if "patch" in module or row.startswith("patch:"):
        return "patch"
    if "client" in module:
        return "clients"
    return "images"


def _grouped(cells: dict) -> dict[str, dict]:
    """table -> {(row, check): cell}, tables in TABLES order."""
    out: dict[str, dict] = defaultdict(dict)
    for (table, row, check), cell in cells.items():
        out[table][(row, check)] = cell
    return {t: out[t] for t in [*TABLES, *sorted(set(out) - set(TABLES))] if t in out}


def summary(cells: dict) -> tuple[str, list[str], list[str]]:
    """(one line, skip reasons with where, failures with why)."""
    counts = Counter(c["outcome"] for c in cells.values())
    skips: dict[str, list[str]] = defaultdict(list)
    fails = []
    for (_table, row, check), cell in cells.items():
        if cell["outcome"] == "skipped":
            skips[cell["detail"] or "no reason given"].append(f"{row} {check.split()[0]}")
        elif cell["outcome"] == "FAIL":
            fails.append(f"{row} / {check}: {cell['detail']}")
    by_reason = ", ".join(
        f"{len(v)} {k}" for k, v in sorted(skips.items(), key=lambda kv: -len(kv[1]))
    )
    line = f"{counts['pass']} passed, {counts['FAIL']} failed, {counts['skipped']} skipped"
    if skips:
        line += f" ({by_reason})"
    reasons = [f"{why}: {_where(where)}" for why, where in skips.items()]
    return line, reasons, fails


def _where(cells: list[str]) -> str:
    """'ubuntu 1', 'ubuntu 2', 'rhel 1' -> 'ubuntu [1,2]; rhel [1]'."""
    rows: dict[str, list[str]] = {}
    for cell in cells:
        row, _, check = cell.rpartition(" ")
        rows.setdefault(row, []).append(check)
    return "; ".join(f"{row} [{','.join(checks)}]" for row, checks in rows.items())


def text(cells: dict) -> list[str]:
    lines = []
    for table, group in _grouped(cells).items():
        rows = list(dict.fromkeys(r for r, _ in group))
        checks = list(dict.fromkeys(c for _, c in group))
        width = max(len(r) for r in rows) + 2
        col = max(8, *(len(c) + 2 for c in checks))
        lines.append(f"-- {TABLES.get(table, table)}")
        lines.append("".ljust(width) + "".join(c.ljust(col) for c in checks))
        for row in rows:
            marks = [
                MARKS.get(group[(row, c)]["outcome"], "?") if (row, c) in group else "."
                for c in checks
            ]
            lines.append(row.ljust(width) + "".join(m.ljust(col) for m in marks))
        lines.append("")
    line, reasons, fails = summary(cells)
    lines.append(f"summary: {line}")
    lines += [f"  FAIL {f}" for f in fails]
    lines += [f"  skipped: {r}" for r in reasons]
    return lines


def markdown(cells: dict) -> str:
    out = ["# ats-roots matrix", ""]
    line, reasons, fails = summary(cells)
    out += [f"**{line}**", ""]
    for table, group in _grouped(cells).items():
        rows = list(dict.fromkeys(r for r, _ in group))
        checks = list(dict.fromkeys(c for _, c in group))
        out += [f"## {TABLES.get(table, table)}", ""]
        out.append("| | " + " | ".join(checks) + " |")
        out.append("| --- |" + " --- |" * len(checks))
        icon = {"pass": "pass", "FAIL": "**FAIL**", "skipped": "skip"}
        for row in rows:
            marks = [
                icon.get(group[(row, c)]["outcome"], "?") if (row, c) in group else ""
                for c in checks
            ]
            out.append(f"| {row} | " + " | ".join(marks) + " |")
        out.append("")
    if fails:
        out += ["## Failures", ""] + [f"- {f}" for f in fails] + [""]
    if reasons:
        out += ["## Skipped, by reason", ""] + [f"- {r}" for r in reasons] + [""]
    return "\n".join(out)

"""Audit output: a table for people, JSON for CI."""

from __future__ import annotations

from ats_roots.audit.model import ATS, CUTOFF, OK, SHORT, MailSetting, Report, Store


def to_json(report: Report, fail_on: list[str] | None = None) -> dict:
    failed = {what: report.findings(what) for what in fail_on or []}
    return {
        "source": report.source,
        "family": report.family,
        "openssl_dir": report.openssl_dir,
        "ats_roots": [name for name, _ in ATS],
        "stores": [s.to_json() for s in report.stores],
        "mail": [m.to_json() for m in report.mail],
        "old_sdks": [s.to_json() for s in report.sdks],
        "summary": report.counts(),
        "scan": report.stats,
        "calendar": {"warn_days": report.warn_days, "stores": report.calendar()},
        "fail_on": {what: found for what, found in failed.items()},
        "failed": any(failed.values()),
    }


def table(report: Report) -> list[str]:
    src = report.source
    if "image" in src:
        arch = f", {src['arch']}" if src.get("arch") else ""
        where = f"image {src['image']} ({src['id'][:19]}{arch})"
    else:
        where = f"root {src['root']}"
    lines = [f"{where}: family {report.family}, OPENSSLDIR {report.openssl_dir}", ""]
    rows: list[Store] = [*report.stores, *report.mail]
    width = max([len(s.path) for s in rows] + [5])
    kinds = max([len(s.kind) for s in rows] + [20])
    head = f"{'STORE':<{width}}  {'KIND':<{kinds}} {'ROOTS':>5}  "
    lines += [head + " ".join(f"{n:>3}" for n in SHORT) + "  VERDICT"]
    for s in rows:
        lines += _row(s, width, kinds)
    if not rows:
        lines.append("(no trust store found)")
    if report.sdks:
        lines += ["", f"old AWS SDKs (released before {CUTOFF}):"]
        for sdk in report.sdks:
            approx = "~" if sdk.approximate else ""
            lines += [
                f"{sdk.ecosystem} {sdk.package} {sdk.version}: upgrade to "
                f"{approx}{sdk.first_fixed} or later",
                f"  {sdk.path}",
                f"  ! {sdk.why}",
            ]
    due = report.calendar()
    if due:
        lines += ["", f"calendar (within {report.warn_days} days):"]
        for path, warnings in due.items():
            lines += [f"{path}"] + [f"  ! {w}" for w in warnings]
    lines += ["", _summary(report)]
    return lines


def _row(s: Store, width: int, kinds: int) -> list[str]:
    fixed = isinstance(s, MailSetting) and s.fixed  # a finding, not a store: no roots
    marks = " ".join(f"{'yes' if has else '-':>3}" for has in s.ats())
    total = "-" if s.absent or not s.readable or fixed else str(s.total)
    verdict = s.verdict if s.verdict == OK else s.verdict.upper()
    out = [f"{s.path:<{width}}  {s.kind:<{kinds}} {total:>5}  {marks}  {verdict}"]
    out += [f"  = {alias}" for alias in sorted(s.aliases)]
    if isinstance(s, MailSetting):
        out.append(f"  ! {s.source()}" + (f": {s.note}" if s.note else ""))
    elif s.note:
        out.append(f"  ! {s.note}")
    if not (isinstance(s, MailSetting) and s.fixed):
        out += [f"  ! {note}" for note in s.key_notes()]
    return out


def _summary(report: Report) -> str:
    c, st = report.counts(), report.stats
    mib = st.get("bytes", 0) / 1048576
    m = c["mail"]
    mail = (
        f"{m['settings']} mail settings: {m['ok']} ok, {m['missing']} missing roots, "
        f"{m['pinned']} pinned, {m['unverified']} unverified"
        + (f", {m['unreadable']} unreadable; " if m["unreadable"] else "; ")
        if report.mail
        else ""
    )
    return (
        f"{c['stores']} stores: {c['ok']} ok, {c['missing']} missing roots, "
        f"{c['pinned']} pinned, {c['unreadable']} unreadable; {mail}{c['old_sdks']} old SDKs. "
        f"Scanned {st.get('files', 0)} files ({mib:.0f} MiB) in {st.get('seconds', 0):.2f} s"
    )

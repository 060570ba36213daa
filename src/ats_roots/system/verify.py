"""`ats verify`: per pinned root, is it trusted where the system's OpenSSL
looks (or in one bundle), and optionally does a recorded chain validate."""

from __future__ import annotations

from ats_roots import errors
from ats_roots.outcome import Outcome
from ats_roots.system import view as store_view


def verify(
    root: str = "/",
    family: str | None = None,
    bundle: str | None = None,
    chain_file: str | None = None,
    at: str | None = None,
    host: str | None = None,
    warn_days: int = 365,
) -> Outcome:
    if bundle:
        store = store_view.view_bundle(bundle)
        if not store.locations:
            raise errors.BadInput(f"{bundle}: cannot read")
    else:
        from ats_roots.system.install import view
        from ats_roots.system.target import Target

        store = view(Target(root), family)
    from ats_roots.trust import calendar, keys
    from ats_roots.trust.roots import now

    if warn_days < 0:
        raise errors.BadInput(f"--warn-days {warn_days}: give a number of days, 0 or more")
    # Roots recognised by key (trust/keys.py); the calendar for what the store depends on.
    report = {"roots": keys.store_report(store)}
    roots_ok = all(r["trusted"] for r in report["roots"])
    held = [r["name"] for r in report["roots"] if r["trusted"]]
    report["warnings"] = calendar.store_warnings(held, now(), warn_days)
    ok = roots_ok
    chain_lines = []
    if chain_file:
        from ats_roots.trust import chain

        when = chain.parse_time(at) if at else now()
        ders = chain.load_chain_ders(chain_file)
        result = chain.check_chain(ders, keys.anchors(store), when, host, warn_days)
        report["chain"] = result.to_json()
        chain_lines = result.lines()
        if not bundle:
            from ats_roots.trust import ossl

            note = ossl.version_note(root)
            report["chain"]["note"] = note
            chain_lines += [f"note: {note}"] if note else []
        ok = ok and result.ok
    report["ok"] = ok
    report["notes"] = store.notes
    lines = _lines(report) + chain_lines + [f"warning: {w}" for w in report["warnings"]]
    lines += [f"note: {n}" for n in store.notes]
    out = Outcome(lines, report, errors.OK if ok else errors.VERIFY_FAILED)
    if not ok:
        what = "the chain does not validate" if roots_ok else "roots missing; run `ats install`"
        out.error = f"verification failed: {what} (see above)"
    return out


def _lines(report: dict) -> list[str]:
    out = []
    for r in report["roots"]:
        state = "trusted" if r["trusted"] else "MISSING"
        where = f"  ({', '.join(r['where'])})" if r["where"] else ""
        out.append(f"{state:8} {r['name']}{where}")
        if r["note"]:
            out.append(f"  ! {r['note']}")
    return out

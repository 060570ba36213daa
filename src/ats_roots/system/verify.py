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
) -> Outcome:
    if bundle:
        store = store_view.view_bundle(bundle)
        if not store.locations:
            raise errors.BadInput(f"{bundle}: cannot read")
    else:
        from ats_roots.system.install import view
        from ats_roots.system.target import Target

        store = view(Target(root), family)
    report = {"roots": store_view.root_report(store)}
    roots_ok = all(r["trusted"] for r in report["roots"])
    ok = roots_ok
    if chain_file:
        from ats_roots.trust import chain
        from ats_roots.trust.roots import now

        when = chain.parse_time(at) if at else now()
        certs = chain.load_chain(chain_file)
        trusted = [store.der_by_sha[s] for s in store.trusted() if s in store.der_by_sha]
        report["chain"] = chain.verify_chain(certs, trusted, when, host)
        ok = ok and report["chain"]["ok"]
    report["ok"] = ok
    out = Outcome(_lines(report), report, errors.OK if ok else errors.VERIFY_FAILED)
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
    c = report.get("chain")
    if c and c["ok"]:
        out.append(f"chain ok for {c['host']}: " + " <- ".join(c["path"]))
    elif c:
        out.append(f"chain FAILED for {c['host']}: {c['error']}")
    return out

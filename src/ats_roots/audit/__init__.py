"""`ats audit`: every place in an image (or an unpacked root) that decides
whom TLS trusts, with the Amazon Trust Services roots each one has.

One module per kind of store (system, java, python, bundles), old SDKs by
package metadata, the trust settings of mail programs (mail/), a thin
orchestrator (scan) and the output (report).
"""

from __future__ import annotations

from ats_roots import errors
from ats_roots.audit.image import audit_image, docker_client
from ats_roots.audit.model import Report
from ats_roots.audit.report import table, to_json
from ats_roots.audit.scan import audit_target
from ats_roots.outcome import Outcome
from ats_roots.system.target import Target

FAIL_ON = ("missing", "pinned", "old-sdk", "expiring")

__all__ = [
    "FAIL_ON", "Report", "audit", "audit_image", "audit_root", "docker_client", "table", "to_json"
]


def audit_root(root: str, password: str | None) -> Report:
    return audit_target(Target(root), password)


def audit(
    image: str | None, root: str | None, fail_on=(), storepass="changeit", warn_days: int = 365
) -> Outcome:
    """`ats audit IMAGE | --root DIR`: the report, failing on what fail_on names."""
    wanted = _fail_on(fail_on)
    if bool(image) == bool(root):
        raise errors.BadInput("give one of IMAGE or --root DIR")
    if warn_days < 0:
        raise errors.BadInput(f"--warn-days {warn_days}: give a number of days, 0 or more")
    report = audit_root(root, storepass) if root else audit_image(docker_client(), image, storepass)
    report.warn_days = warn_days
    doc = to_json(report, wanted)
    out = Outcome(table(report), doc)
    if doc["failed"]:
        found = "; ".join(f"{k}: {', '.join(v)}" for k, v in doc["fail_on"].items() if v)
        out.code = errors.VERIFY_FAILED
        out.error = (
            f"found {found} (fix with `ats patch`, or update what is named; "
            "mail-server settings are fixed in their config file)"
        )
        if set(k for k, v in doc["fail_on"].items() if v) == {"expiring"}:
            out.error = (
                f"found {found} (add Amazon Root CA 1-4 themselves, `ats patch` or "
                "`ats install`, so that nothing depends on a root near its date)"
            )
    return out


def _fail_on(values) -> list[str]:
    wanted = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for v in wanted:
        if v not in FAIL_ON:
            raise errors.BadInput(f"--fail-on {v}: choose from {', '.join(FAIL_ON)}")
    return list(dict.fromkeys(wanted))

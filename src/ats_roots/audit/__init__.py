"""`ats audit`: every place in an image (or an unpacked root) that decides
whom TLS trusts, with the Amazon Trust Services roots each one has.

One module per kind of store (system, java, python, bundles), old SDKs by
package metadata, the trust settings of mail programs (mail/), a thin
orchestrator (scan) and the output (report).
"""

from __future__ import annotations

from ats_roots.audit.image import audit_image, docker_client
from ats_roots.audit.model import Report
from ats_roots.audit.report import table, to_json
from ats_roots.audit.scan import audit_target
from ats_roots.system.target import Target

FAIL_ON = ("missing", "pinned", "old-sdk")

__all__ = ["FAIL_ON", "Report", "audit_image", "audit_root", "docker_client", "table", "to_json"]


def audit_root(root: str, password: str | None) -> Report:
    return audit_target(Target(root), password)

"""install, uninstall and view: detect the family, plan, apply, check."""

from __future__ import annotations

import contextlib

from ats_roots import errors
from ats_roots._portable import FileLock
from ats_roots.errors import EnvRefuses
from ats_roots.outcome import Outcome
from ats_roots.system import families as stores
from ats_roots.system import view as store_view
from ats_roots.system.plan import LOCK
from ats_roots.system.target import Target
from ats_roots.trust.certs import certs_to_install


@contextlib.contextmanager
def _lock(target: Target):
    """Serialize installs on one root (parallel builds, a shared volume)."""
    lock = FileLock(target.path(LOCK))
    try:
        lock.__enter__()
    except OSError as exc:
        raise EnvRefuses(
            f"{target.path(LOCK)}: {exc.strerror}; run as root on a writable file system "
            "(or use ats-hook, which needs neither)"
        ) from None
    try:
        yield
    finally:
        lock.__exit__(None, None, None)


def install(target: Target, family=None, extra_ca=None, dry_run=False) -> dict:
    certs = certs_to_install(extra_ca)  # refuse bad input before touching anything
    fam = stores.detect(target, family)
    tools = getattr(fam, "tools", ())
    if tools and fam.tool(target) is None:  # only when forced: detection needs the tool
        raise EnvRefuses(
            f"--family {fam.name}: no {' or '.join(tools)} in {target.root}; "
            "install the distro's CA package there, or use --family notool"
        )
    with contextlib.nullcontext() if dry_run else _lock(target):
        before = store_view.view_target(target, fam).trusted()
        plan = fam.plan(target, certs, before)
        result = {"plan": plan, "family": fam.name, "outputs": [], "missing": []}
        if dry_run or plan.empty:
            return result
        result["outputs"] = stores.apply(plan)
        after = store_view.view_target(target, fam).trusted()
        result["missing"] = [c.name for c in certs if c.sha256 not in after]
        return result


def uninstall(target: Target, family=None) -> dict:
    fam = stores.detect(target, family)
    with _lock(target):
        plan = fam.uninstall(target)
        outputs = [] if plan.empty else stores.apply(plan)
        return {"plan": plan, "family": fam.name, "outputs": outputs}


def view(target: Target, family=None) -> store_view.StoreView:
    return store_view.view_target(target, stores.detect(target, family))


def install_outcome(root="/", family=None, extra_ca=(), dry_run=False) -> Outcome:
    result = install(Target(root), family, list(extra_ca), dry_run)
    plan = result["plan"]
    doc = {**plan.to_json(), "dry_run": dry_run, "missing": result["missing"]}
    out = Outcome(plan.lines(), doc)
    if result["missing"]:
        out.code = errors.VERIFY_FAILED
        out.error = "still not trusted after install: " + ", ".join(result["missing"])
    return out


def uninstall_outcome(root="/", family=None) -> Outcome:
    plan = uninstall(Target(root), family)["plan"]
    return Outcome(plan.lines(), plan.to_json())

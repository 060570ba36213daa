"""install, uninstall and view: detect the family, plan, apply, check."""

from __future__ import annotations

import contextlib
import os
import stat

from ats_roots import errors
from ats_roots.errors import EnvRefuses
from ats_roots.outcome import Outcome
from ats_roots.system import _core, families, safepath
from ats_roots.system import view as store_view
from ats_roots.system.layout import TOOL_RUNNING
from ats_roots.system.plan import apply, preflight, remove_created
from ats_roots.system.target import Target
from ats_roots.trust.certs import certs_to_install

LOCK_TIMEOUT = float(os.environ.get("ATS_LOCK_TIMEOUT", "60"))  # then say who holds it


@contextlib.contextmanager
def _lock(target: Target):
    """The install core's lock (see _core.Locked), its refusals made exit 3."""
    try:
        with _core.Locked(target, LOCK_TIMEOUT, refusals=(EnvRefuses, _core.Refusal)) as created:
            yield created
    except _core.Refusal as exc:
        raise EnvRefuses(str(exc)) from None


def _apply(target: Target, plan, created: list[str]) -> list[str]:
    """Preflight, then apply (a refusal takes back the lock file: see _lock)."""
    preflight(plan)
    return apply(plan, checked=True)


def install(target: Target, family=None, extra_ca=None, dry_run=False) -> dict:
    certs = certs_to_install(extra_ca)  # refuse bad input before touching anything
    fam = families.detect(target, family)
    layout = getattr(fam, "layout", None)  # the families that run a CA tool
    if layout and fam.tool(target) is None:  # only when forced: detection needs the tool
        raise EnvRefuses(
            f"--family {fam.name}: no {' or '.join(layout.tools)} in {target.root}; "
            "install the distro's CA package there, or use --family notool"
        )
    _check_store_files(target, fam)
    with contextlib.nullcontext([]) if dry_run else _lock(target) as created:
        before = _trusted(fam, target)
        plan = fam.plan_install(target, certs, before or set())
        result = {"plan": plan, "family": fam.name, "outputs": [], "missing": []}
        if dry_run:
            preflight(plan, dry_run=True)  # says what the real one would refuse
        if plan.empty and not dry_run:  # a run killed after its tool had finished
            target.fs.unlink(TOOL_RUNNING)
        if dry_run or plan.empty:
            remove_created(target.fs, created)  # nothing to do: not even a lock file left
            return result
        result["outputs"] = _apply(target, plan, created)
        after = _trusted(fam, target)
        if after is not None:
            result["missing"] = [c.name for c in certs if c.sha256 not in after]
        return result


def _check_store_files(target: Target, fam) -> None:
    """A bundle that is a directory (or a FIFO, a device) is refused before
    anything reads or plans it: exit 3, the target as it was."""
    for inner in fam.store_files(target):
        st = target.stat(inner)
        if st is not None and not stat.S_ISREG(st.st_mode):
            raise EnvRefuses(
                f"{target.path(inner)}: is {safepath.kind_of(st.st_mode)} where ats writes "
                "a file; nothing was changed"
            )


def uninstall(target: Target, family=None) -> dict:
    fam = families.detect(target, family)
    with _lock(target) as created:
        plan = fam.plan_uninstall(target)
        if plan.empty:
            remove_created(target.fs, created)
        outputs = [] if plan.empty else _apply(target, plan, created)
        return {"plan": plan, "family": fam.name, "outputs": outputs}


def view(target: Target, family=None) -> store_view.StoreView:
    return families.detect(target, family).verify(target)


def _trusted(fam, target: Target) -> set[str] | None:
    """What the store trusts now; None where the family cannot read it (a
    platform store), so the plan adds every root and nothing is checked."""
    try:
        return fam.verify(target).trusted()
    except EnvRefuses:
        return None


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

"""The plan (every file written, every command run) and its executor, as
`ats` uses them: the install core (system/_core.py, shared with the hook)
with its refusals made exit 3.

A family module says where anchors go and which tool compiles them; the
core turns that into a plan and carries it out atomically, only ever adding
what was not there (see _core's docstring: check everything, then change
anything). Every change goes through the target's safepath.Root.
"""

from __future__ import annotations

from ats_roots.errors import EnvRefuses
from ats_roots.system import _core
from ats_roots.system._core import Link, Plan, Write, read_manifest, remove_created
from ats_roots.system.layout import LOCK, MANIFEST  # noqa: F401 - for callers

__all__ = ["Link", "Plan", "Write", "apply", "preflight", "read_manifest", "remove_created"]


def preflight(plan: Plan, also: tuple[str, ...] = (), dry_run: bool = False) -> None:
    """Every reason to refuse plan, before its first write: EnvRefuses, one line."""
    try:
        _core.preflight(plan, also, dry_run)
    except _core.Refusal as exc:
        raise EnvRefuses(str(exc)) from None


def apply(plan: Plan, checked: bool = False) -> list[str]:
    """Carry out a plan (all or nothing); returns the output of the commands it ran."""
    try:
        return _core.apply(plan, checked)
    except _core.Refusal as exc:
        raise EnvRefuses(str(exc)) from None

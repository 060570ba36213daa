"""The matrix's results, kept per test module while nothing they depend on changes.

A warm `make demo` or `make test` with nothing changed should not spend minutes
proving again what the last run proved: a module whose last run passed, with the
same inputs, is not run again, and its cells are reported from that run (the
table says which, and when they were measured). Anything that can change a
verdict is an input: the module's own file; the files it shares with every
module (shared_files: the product, the images' recipes, the scripts, the test
helpers); every image it may use, by ID; the Docker Engine; the variables the
checks read (LIVE, ATS_REQUIRE_*), whether arm64 emulation is there; and the UTC
day, since certificates expire. A run that failed, was interrupted or was
narrowed (-k, -m, a node ID, -x) keeps nothing; otherwise each whole module that
passed is kept, and a module that failed always runs again.

Off unless ATS_MATRIX_CACHE names a directory (the Makefile sets it);
ATS_MATRIX_FRESH=1 runs everything and keeps the new results (.ci/run sets it:
CI trusts no cache). Works under pytest-xdist: the workers and the controller
compute the same keys from the same inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest

CACHE_ENV, FRESH_ENV = "ATS_MATRIX_CACHE", "ATS_MATRIX_FRESH"
CELL_PROPERTY = "ats_cell"  # the user property that carries a report's cell (conftest)


def digest_files(root: str, paths: list[str]) -> str:
    """sha256 over each file's relative path and content, in sorted order."""
    h = hashlib.sha256()
    for rel in sorted(paths):
        h.update(rel.encode() + b"\0")
        try:
            with open(os.path.join(root, rel), "rb") as f:
                h.update(hashlib.sha256(f.read()).digest())
        except OSError:
            h.update(b"absent")
    return h.hexdigest()


class ResultCache:
    """The pytest plugin. shared: a function returning {name: digest} of every
    input but the modules' own files (None: no cache this run); each entry
    keeps them, so that a module run again can say which changed."""

    def __init__(self, directory: str, root: str, shared):
        self.directory, self.root, self._shared_fn = directory, root, shared
        self.fresh = os.environ.get(FRESH_ENV) == "1"
        self._shared = None
        self.reused: dict[str, dict] = {}  # module path -> its kept entry
        self._reused_known = False  # reused decided (at collection, else from disk once)
        self._ran: dict[str, dict] = {}  # module path -> {"cells": [...], "failed": bool}
        self._narrowed = False
        self.changed: dict[str, list] = {}  # module run again -> the inputs that changed

    # --- keys -------------------------------------------------------------
    def shared(self) -> dict | None:
        if self._shared is None:
            self._shared = self._shared_fn() or {}
        return self._shared or None

    def inputs(self, module: str) -> dict | None:
        shared = self.shared()
        if shared is None:
            return None
        return {**shared, "the module's file": digest_files(self.root, [module])}

    def key(self, module: str) -> str | None:
        inputs = self.inputs(module)
        if inputs is None:
            return None
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()

    def _entry_path(self, module: str) -> str:
        return os.path.join(self.directory, module.replace(os.sep, "__") + ".json")

    def kept(self, module: str) -> dict | None:
        """The kept entry of a module, if its inputs are the same as now."""
        if self.fresh:
            return None
        try:
            with open(self._entry_path(module), encoding="utf-8") as f:
                entry = json.load(f)
        except (OSError, ValueError):
            return None
        key = self.key(module)
        if key is not None and entry.get("key") == key:
            return entry
        now = self.inputs(module) or {}
        self.changed[module] = sorted(k for k in now if entry.get("inputs", {}).get(k) != now[k])
        return None

    def _module_of(self, nodeid: str) -> str:
        return nodeid.split("::", 1)[0]

    # --- hooks ------------------------------------------------------------
    def pytest_sessionstart(self, session):
        opt = session.config.option
        args = [a for a in session.config.args if "::" in a]
        self._narrowed = bool(getattr(opt, "keyword", "") or getattr(opt, "markexpr", "")
                              or args or getattr(opt, "lf", False))
        if not self._narrowed:
            self.shared()  # the key is taken before any test can change an input

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, config, items):
        if self._narrowed:
            return
        keep, drop = [], []
        for item in items:
            module = self._module_of(item.nodeid)
            entry = self.reused.get(module) or self.kept(module)
            if entry:
                self.reused[module] = entry
                drop.append(item)
            else:
                keep.append(item)
        self._reused_known = True
        if drop:
            config.hook.pytest_deselected(items=drop)
            items[:] = keep

    def pytest_runtest_logreport(self, report):
        ran = self._ran.setdefault(self._module_of(report.nodeid), {"cells": [], "failed": False})
        ran["failed"] |= report.failed
        if report.when == "call" or report.when == "setup" and report.skipped:
            ran["tests"] = ran.get("tests", 0) + 1
        props = dict(report.user_properties)
        if CELL_PROPERTY in props:
            ran["cells"].append(props[CELL_PROPERTY])

    def pytest_collectreport(self, report):
        if report.failed:
            self._ran.setdefault(self._module_of(report.nodeid),
                                 {"cells": [], "failed": False})["failed"] = True

    def pytest_sessionfinish(self, session, exitstatus):
        if hasattr(session.config, "workerinput"):
            return  # the controller keeps them (under xdist it has every report)
        self._know_reused(session.config)
        if exitstatus == pytest.ExitCode.NO_TESTS_COLLECTED and self.reused:
            session.exitstatus = pytest.ExitCode.OK  # every module was kept
        # a module that passed is kept though another failed (the next run runs
        # only the failed one), but not from a run cut short: its modules may be
        # half run
        if self._narrowed or session.config.option.maxfail or exitstatus not in (
                pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                pytest.ExitCode.NO_TESTS_COLLECTED):
            return
        os.makedirs(self.directory, exist_ok=True)
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        for module, ran in self._ran.items():
            key = self.key(module)
            if ran["failed"] or key is None or module in self.reused:
                continue
            path = self._entry_path(module)
            with open(path + ".tmp", "w", encoding="utf-8") as f:
                json.dump({"key": key, "module": module, "when": when, "cells": ran["cells"],
                           "tests": ran.get("tests", 0), "inputs": self.inputs(module)}, f)
            os.replace(path + ".tmp", path)

    def _know_reused(self, config) -> None:
        """Under xdist the controller collects nothing: it finds the kept
        modules itself, once, among those the run was given (as a worker's
        collection would have)."""
        if self._reused_known or self._narrowed:
            return
        self._reused_known = True
        try:
            names = os.listdir(self.directory)
        except OSError:
            return
        given = [os.path.relpath(os.path.abspath(a), self.root) for a in config.args]
        for name in sorted(names):
            if not name.endswith(".json"):
                continue
            module = name[:-5].replace("__", os.sep)
            if not any(g == "." or module == g or module.startswith(g + os.sep) for g in given):
                continue
            entry = self.kept(module)
            if entry and module not in self._ran:
                self.reused[module] = entry

    def reused_cells(self, config) -> list[list]:
        """The kept modules' cells, as the reports carried them."""
        self._know_reused(config)
        return [cell for entry in self.reused.values() for cell in entry["cells"]]

    def rerun_note(self) -> str | None:
        """One line: the modules a kept run existed for that ran again, and why."""
        if not self.changed:
            return None
        return "ran again: " + "; ".join(
            f"{os.path.basename(m).removesuffix('.py')} ({', '.join(why) or 'no inputs kept'}"
            " changed)" for m, why in sorted(self.changed.items()))

    def note(self, config) -> str | None:
        """One line for the table: what was not run again, and when it was measured."""
        cells = self.reused_cells(config)
        if not self.reused:
            return self.rerun_note()
        tests = sum(e.get("tests", 0) for e in self.reused.values())
        when = sorted({e["when"] for e in self.reused.values()})
        names = ", ".join(os.path.basename(m).removesuffix(".py") for m in sorted(self.reused))
        return (f"kept: {tests} tests ({len(cells)} cells) of {names}, measured {when[0]}"
                + (f" to {when[-1]}" if len(when) > 1 else "")
                + f" with the same inputs (not run again; {FRESH_ENV}=1 runs them)"
                + (f"; {self.rerun_note()}" if self.changed else ""))

"""The matrix's kept results (tests/matrix/resultcache.py), through real pytest
runs of a small suite built like the matrix: two modules, a shared input, cells
carried in the reports; run alone and under pytest-xdist as the matrix runs."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

MATRIX = os.path.join(os.path.dirname(os.path.abspath(__file__)), "matrix")

CONFTEST = f"""
import hashlib, os, sys
sys.path.insert(0, {MATRIX!r})
import pytest, resultcache

ROOT = os.path.dirname(os.path.abspath(__file__))

def shared():
    with open(os.path.join(ROOT, "shared.txt"), "rb") as f:
        return {{"shared.txt": hashlib.sha256(f.read()).hexdigest()}}

def pytest_configure(config):
    config.pluginmanager.register(
        resultcache.ResultCache(os.path.join(ROOT, "kept"), str(config.rootpath), shared),
        "ats-resultcache")

@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    report = (yield).get_result()
    if report.when == "call":
        report.user_properties.append(
            (resultcache.CELL_PROPERTY, [0, "images", item.name, "c", report.outcome, ""]))

def pytest_terminal_summary(terminalreporter):
    if not hasattr(terminalreporter.config, "workerinput"):
        kept = terminalreporter.config.pluginmanager.get_plugin("ats-resultcache")
        terminalreporter.write_line("NOTE " + str(kept.note(terminalreporter.config)))
        terminalreporter.write_line("CELLS " + str(len(kept.reused_cells(terminalreporter.config))))
"""

MODULE = """
import os
def test_{name}_one():
    with open(os.path.join(os.path.dirname(__file__), "ran.log"), "a") as f:
        f.write("{name}\\n")
    assert not os.path.exists(os.path.join(os.path.dirname(__file__), "fail-{name}"))
def test_{name}_two():
    pass
"""


@pytest.fixture
def suite(tmp_path):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    (tmp_path / "shared.txt").write_text("one")
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    for name in ("a", "b"):
        (tmp_path / f"test_{name}.py").write_text(MODULE.format(name=name))
    return tmp_path


def run(suite, *args, fresh=False, workers=0):
    """(exit code, the modules whose tests ran, the output)."""
    log = suite / "ran.log"
    log.unlink(missing_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ATS_MATRIX_")}
    if fresh:
        env["ATS_MATRIX_FRESH"] = "1"
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    if workers:
        argv += ["-n", str(workers)]
    proc = subprocess.run(argv, cwd=suite, capture_output=True, text=True, env=env, timeout=120)
    ran = sorted(set(log.read_text().split())) if log.exists() else []
    return proc.returncode, ran, proc.stdout + proc.stderr


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "xdist"])
def test_kept_while_inputs_stay(suite, workers):
    assert run(suite, workers=workers)[:2] == (0, ["a", "b"])
    rc, ran, out = run(suite, workers=workers)
    assert (rc, ran) == (0, []), out  # nothing changed: nothing runs, and the run passes
    assert "NOTE kept: 4 tests (4 cells) of test_a, test_b" in out and "CELLS 4" in out, out
    # the module's own file: only it runs again
    (suite / "test_a.py").write_text(MODULE.format(name="a") + "\n# edited\n")
    rc, ran, out = run(suite, workers=workers)
    assert (rc, ran) == (0, ["a"]), out
    assert "CELLS 2" in out, out  # b's two cells come from the kept run
    assert "ran again: test_a (the module's file changed)" in out, out
    # a shared input: everything runs again, and says which input changed
    (suite / "shared.txt").write_text("two")
    rc, ran, out = run(suite, workers=workers)
    assert (rc, ran) == (0, ["a", "b"]), out
    assert "ran again: test_a (shared.txt changed); test_b (shared.txt changed)" in out, out
    # fresh: runs everything though nothing changed
    assert run(suite, fresh=True, workers=workers)[:2] == (0, ["a", "b"])
    assert run(suite, workers=workers)[:2] == (0, [])


@pytest.mark.parametrize("workers", [0, 2], ids=["one-process", "xdist"])
def test_a_failure_is_never_kept(suite, workers):
    (suite / "fail-b").write_text("")
    rc, ran, _ = run(suite, workers=workers)
    assert (rc, ran) == (1, ["a", "b"])
    # the module that failed runs again, and fails again; the one that passed is kept
    rc, ran, out = run(suite, workers=workers)
    assert (rc, ran) == (1, ["b"]), out
    (suite / "fail-b").unlink()
    assert run(suite, workers=workers)[:2] == (0, ["b"])
    assert run(suite, workers=workers)[:2] == (0, [])


def test_a_run_cut_short_keeps_nothing(suite):
    (suite / "fail-a").write_text("")
    assert run(suite, "-x")[:2] == (1, ["a"])  # stopped at a's failure: b never ran
    (suite / "fail-a").unlink()
    assert run(suite)[:2] == (0, ["a", "b"])


def test_a_narrowed_run_keeps_nothing(suite):
    # -k runs part of a module: keeping it would report cells never measured
    rc, ran, _ = run(suite, "-k", "one")
    assert (rc, ran) == (0, ["a", "b"])
    assert run(suite)[:2] == (0, ["a", "b"])
    # and a narrowed run does not skip what is kept: it runs what was asked
    assert run(suite, "test_a.py::test_a_one")[:2] == (0, ["a"])


def test_no_key_no_cache(suite):
    # where the inputs cannot be known (no git, no engine), nothing is kept
    conftest = suite / "conftest.py"
    conftest.write_text(conftest.read_text().replace(
        'return {"shared.txt": hashlib.sha256(f.read()).hexdigest()}', "return None"))
    assert run(suite)[:2] == (0, ["a", "b"])
    assert run(suite)[:2] == (0, ["a", "b"])

"""hooks/ats-hook on this machine, no containers: generation, Python 3.6
compatibility, and behaviour against fake system bundles.

The hook is always run with ATS_HOOK_SYSTEM_BUNDLES (which implies --private)
and ATS_HOOK_DIR in a temp dir, so it never touches this machine's trust store,
even though the tests may run as root.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from helpers import HOOK, gen_hook, hook_edited, need

REPO = Path(__file__).resolve().parent.parent
GEN = REPO / "scripts" / "gen-hook"
FIXTURES = REPO / "tests" / "fixtures" / "ats-public"
ROOT_FILES = sorted((REPO / "src" / "ats_roots" / "trust" / "data").glob("*.pem"))
OLD_PYTHONS = {
    "3.6": "/root/.pyenv/versions/3.6.15/bin/python3",
    "3.7": "/root/.pyenv/versions/3.7.16/bin/python3",
}
EXPORTED = (
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "AWS_CA_BUNDLE",
    "NODE_EXTRA_CA_CERTS",
    "GIT_SSL_CAINFO",
)
# What this machine's environment may carry and the hook or its CMD would read.
SCRUBBED = EXPORTED + ("SSL_CERT_DIR", "JAVA_TOOL_OPTIONS", "JAVA_HOME", "TMPDIR")
# CMD: print, as JSON, its pid and the environment it was given (from /proc, since
# a Python CMD may change its own os.environ; -S: no site, so no sitecustomize).
DUMP_ENV = [
    sys.executable,
    "-S",
    "-c",
    "import json,os; given = open('/proc/self/environ', 'rb').read().decode().split('\\0');"
    " print(json.dumps({'pid': os.getpid(), 'env': dict(i.split('=', 1) for i in given if i)}))",
]


# --- fixtures: a fake system, its bundles, CAs


@pytest.fixture(scope="module")
def site_ca():
    return trustme.CA(organization_name="ats-hook test site CA")


@pytest.fixture(scope="module")
def bundles(tmp_path_factory, site_ca):
    """A 'system' bundle without the Amazon roots (a few other CAs) and one with them."""
    d = tmp_path_factory.mktemp("bundles")
    others = b"".join(trustme.CA().cert_pem.bytes() for _ in range(3))
    amazon = b"".join(p.read_bytes() for p in ROOT_FILES)
    (d / "noamazon.pem").write_bytes(others)
    (d / "good.pem").write_bytes(others + amazon)
    site_ca.cert_pem.write_to_path(str(d / "site-ca.pem"))
    return d


@pytest.fixture
def hook_env(tmp_path, bundles):
    """An environment that points the hook at the bundle lacking the roots."""
    env = {k: v for k, v in os.environ.items() if k not in SCRUBBED and not k.startswith("ATS_")}
    env.update(
        ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "noamazon.pem"),
        ATS_HOOK_DIR=str(tmp_path / "hookdir"),
        ATS_HOOK_JAVA="off",
        LC_ALL="C.UTF-8",
    )
    (tmp_path / "hookdir").mkdir()
    return env


# tests/test_hook_bundle.py runs this file again through the ats-hook image's
# bundle (the hook with its own Python), unpacked here: BUNDLE/ats-hook ARGS.
BUNDLE = os.environ.get("ATS_HOOK_TEST_BUNDLE")


def hook_argv(python=None):
    if BUNDLE and python is None:
        return [os.path.join(BUNDLE, "ats-hook")]
    return [python or sys.executable, str(HOOK)]


def run_hook(args, env, python=None, **kw):
    return subprocess.run(
        [*hook_argv(python), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        **kw,
    )


def dumped(proc):
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def private_dir(env):
    return Path(env["ATS_HOOK_DIR"]) / f"ats-hook-{os.geteuid()}"


def require_old_python(version):
    path = OLD_PYTHONS[version]
    if not os.access(path, os.X_OK):
        if os.environ.get("ATS_REQUIRE_OLD_PYTHON") == "1":
            pytest.fail(f"python {version} is required (ATS_REQUIRE_OLD_PYTHON=1) at {path}")
        pytest.skip(f"python {version} not installed at {path}")
    return path


# --- one source: the hook is generated, and a drift is caught


def test_hook_is_what_the_generator_makes():
    proc = subprocess.run([sys.executable, str(GEN), "--check"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("where", ["plain code", "a packed part"])
def test_generator_check_catches_drift(tmp_path, where):
    copy = tmp_path / "ats-hook"
    if where == "plain code":
        copy.write_text(HOOK.read_text().replace("/var/cache/ats-roots", "/var/cache/ats-root", 1))
    else:  # inside the settle part's packed source
        copy.write_text(hook_edited('"Amazon Root CA 1"', '"Amazon Root CA 9"'))
    proc = subprocess.run(
        [sys.executable, str(GEN), "--check", "--output", str(copy)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "run scripts/gen-hook" in proc.stderr


def test_the_hook_is_its_sources_packed():
    """Every inlined module and pinned root is in the hook, verbatim once
    unpacked; the file itself holds them packed, one line a part."""
    gen = gen_hook()
    packed = HOOK.read_text()
    text = gen["unpack"](packed)
    for module in ("_portable.py", "_smtp.py", "system/safepath.py", "system/_core.py"):
        source = (REPO / "src/ats_roots" / module).read_text()
        assert source in text and source not in packed
    for pem in ROOT_FILES:
        assert pem.read_text().strip() in text
    assert gen["pack"](text) == packed
    assert len(packed) < len(text) / 2


def not_data(text: str) -> list[str]:
    """Statements between SOURCES_BEGIN and SOURCES_END that are not a string
    given to _CHUNKS[...] or _*_SOURCE: scripts/build-hook-image cuts that
    region out of the image's compiled hook, so only data may sit there."""
    import ast

    begin = "# --- the parts' source: data, compiled when a start needs a part"
    end = "# --- end of the parts' source"
    region = text[text.index(f"\n{begin}\n") : text.index(f"\n{end}\n")]
    found = []
    for node in ast.parse(region).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else None
        named = isinstance(target, ast.Name) and target.id.endswith("_SOURCE")
        chunk = isinstance(target, ast.Subscript) and getattr(target.value, "id", "") == "_CHUNKS"
        if not ((named or chunk) and isinstance(node.value, ast.Constant)):
            found.append(ast.dump(node)[:60])
    return found


def test_the_parts_source_is_only_data():
    text = HOOK.read_text()
    assert not_data(text) == []
    # The check sees code that would be lost from the image's compiled hook.
    spoiled = text.replace("\n_SMTP_SOURCE = ", "\ndef lost():\n    pass\n\n\n_SMTP_SOURCE = ", 1)
    assert len(not_data(spoiled)) == 1


def test_hook_is_an_executable_script():
    assert HOOK.read_text().startswith("#!/usr/bin/env python3\n")
    assert HOOK.stat().st_mode & 0o111


# --- Python 3.6 compatibility


@pytest.fixture(scope="module")
def flat_source(tmp_path_factory):
    """The hook's code with nothing hidden in strings, for linters and compilers."""
    out = tmp_path_factory.mktemp("flat") / "ats_hook_flat.py"
    proc = subprocess.run([sys.executable, str(GEN), "--flat"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    out.write_text(proc.stdout)
    return out


def test_vermin_says_python_36(flat_source):
    vermin = Path(sys.executable).parent / "vermin"
    if not vermin.exists():
        need(False, "vermin not installed (make setup)", "TOOLS")
    for path in (HOOK, flat_source, REPO / "src/ats_roots/_portable.py"):
        proc = subprocess.run(
            [str(vermin), "--no-tips", "--violations", "-t=3.6-", str(path)],
            capture_output=True,
            text=True,
        )
        assert proc.returncode == 0, f"{path}: {proc.stdout}{proc.stderr}"


def test_byte_compiles_with_python_36(flat_source, tmp_path):
    python = require_old_python("3.6")
    for path in (HOOK, flat_source, REPO / "src/ats_roots/_portable.py"):
        target = tmp_path / (path.name + ".py")
        shutil.copy(path, target)
        proc = subprocess.run([python, "-m", "py_compile", str(target)], capture_output=True)
        assert proc.returncode == 0, proc.stderr.decode()


FLAT_NAME = "src/ats_roots/hook/ats-hook-flat.py"  # ruff's per-file rules for the hook


def test_flat_source_passes_ruff():
    ruff = Path(sys.executable).parent / "ruff"
    if not ruff.exists():
        need(False, "ruff not installed (make setup)", "TOOLS")
    flat = subprocess.run([sys.executable, str(GEN), "--flat"], capture_output=True, text=True)
    proc = subprocess.run(
        [str(ruff), "check", "--no-cache", "--stdin-filename", FLAT_NAME, "-"],
        input=flat.stdout,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    assert proc.returncode == 0, proc.stdout


@pytest.mark.parametrize("version", sorted(OLD_PYTHONS))
def test_runs_under_old_python(version, hook_env, bundles):
    """Every part of the hook runs: settle, full (options, extra CA, _portable), exec."""
    python = require_old_python(version)
    proc = run_hook(
        ["--extra-ca", str(bundles / "site-ca.pem"), "--", *DUMP_ENV], hook_env, python=python
    )
    env = dumped(proc)["env"]
    bundle = Path(env["SSL_CERT_FILE"])
    assert bundle.parent == private_dir(hook_env)
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") == 3 + 5 + 1
    env = dict(hook_env, ATS_HOOK_VERBOSE="1", ATS_HOOK_EXTRA_CA=str(bundles / "site-ca.pem"))
    again = run_hook(["--", *DUMP_ENV], env, python=python)  # a restart: all remembered
    assert dumped(again)["env"]["SSL_CERT_FILE"] == str(bundle)
    assert "(compiled parts: fast, settle, full)" in again.stderr  # marshal'd by this Python


# --- behaviour: exec, environment, private bundle


def test_private_bundle_exported_and_exec_keeps_pid(hook_env, bundles):
    proc = subprocess.Popen(
        [*hook_argv(), "--", *DUMP_ENV],
        env=hook_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    out, err = proc.communicate(timeout=60)
    result = json.loads(out)
    assert result["pid"] == proc.pid  # exec: CMD is the hook's process
    bundle = private_dir(hook_env) / "ca-bundle.pem"
    for var in EXPORTED:
        assert result["env"][var] == str(bundle)
    assert stat.S_IMODE(bundle.parent.stat().st_mode) == 0o700
    data = bundle.read_bytes()
    assert data.startswith((bundles / "noamazon.pem").read_bytes())
    for pem in ROOT_FILES:
        assert pem.read_bytes() in data
    assert len(err.splitlines()) == 1 and "private CA bundle" in err


def imported(argv, env) -> set[str]:
    """The modules a start imports (python -X importtime, on stderr)."""
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return {line.split("|")[2].strip() for line in proc.stderr.splitlines()
            if line.startswith("import time:") and "|" in line} - {"package"}


DEAR_IMPORTS = {"tempfile", "shutil", "random", "subprocess"}


def test_a_first_start_that_makes_a_private_bundle_imports_nothing_dear(hook_env):
    """The slow path a read-only pod takes at every start (a fresh /tmp): the
    bundle lacks the roots, a private one is made. tempfile, shutil, random
    and subprocess cost it 20 ms of 60 and it needs none of them. Control:
    the same reading sees them where a start does import them."""
    argv = [sys.executable, "-I", "-S", "-X", "importtime", str(HOOK), "--", "true"]
    seen = imported(argv, hook_env)
    assert (private_dir(hook_env) / "ca-bundle.pem").is_file()  # it was the slow path
    assert {"re", "base64"} <= seen and not seen & DEAR_IMPORTS, sorted(seen & DEAR_IMPORTS)
    control = [sys.executable, "-I", "-S", "-X", "importtime", "-c", "import tempfile, subprocess"]
    assert imported(control, hook_env) >= DEAR_IMPORTS


def test_private_bundle_makes_openssl_verify_amazon_intermediates(hook_env, tmp_path):
    need(shutil.which("openssl") is not None, "no openssl on the host", "TOOLS")
    # -no-CApath -no-CAstore: only the default CA file (SSL_CERT_FILE) counts
    verify = ["openssl", "verify", "-no-CApath", "-no-CAstore"]
    certs = [str(FIXTURES / n) for n in ("r2m02.pem", "r4m02.pem", "e2m02.pem", "e3m02.pem")]
    certs.append(str(FIXTURES / "rootca1.pem"))  # cross-signed by Starfield Services G2
    without = subprocess.run(
        [*verify, *certs],
        env=dict(hook_env, SSL_CERT_FILE=hook_env["ATS_HOOK_SYSTEM_BUNDLES"]),
        capture_output=True,
        text=True,
    )
    assert without.returncode != 0  # negative control
    proc = run_hook(["--", *verify, *certs], hook_env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count(": OK") == len(certs)


def test_user_variables_that_trust_the_roots_are_kept_unless_override(hook_env, bundles):
    good = str(bundles / "good.pem")
    env = dict(hook_env, SSL_CERT_FILE=good, NODE_EXTRA_CA_CERTS=good)
    kept = dumped(run_hook(["--", *DUMP_ENV], env))["env"]
    assert kept["SSL_CERT_FILE"] == good
    assert kept["NODE_EXTRA_CA_CERTS"] == good
    assert kept["CURL_CA_BUNDLE"].endswith("/ca-bundle.pem")
    replaced = dumped(run_hook(["--override-env", "--", *DUMP_ENV], env))["env"]
    assert replaced["SSL_CERT_FILE"].endswith("/ca-bundle.pem")
    by_env = dumped(run_hook(["--", *DUMP_ENV], dict(env, ATS_HOOK_OVERRIDE_ENV="1")))["env"]
    assert by_env["NODE_EXTRA_CA_CERTS"].endswith("/ca-bundle.pem")


# --- a variable already set must not defeat the hook (issue 11)

OPENSSL_VERIFY = ["openssl", "verify", "-no-CApath", "-no-CAstore"]  # only SSL_CERT_FILE counts
INTERMEDIATES = [str(FIXTURES / n) for n in ("r2m02.pem", "r4m02.pem", "e2m02.pem", "e3m02.pem")]


def test_variables_set_to_the_system_bundle_get_the_roots(hook_env, bundles):
    """The issue's reproduction: SSL_CERT_FILE, REQUESTS_CA_BUNDLE and AWS_CA_BUNDLE
    already name the system bundle, which lacks the roots; non-root, enforce.
    Before: exit 0, CMD ran against that bundle. Now each names a bundle with
    the roots, and openssl (reading SSL_CERT_FILE) verifies the intermediates."""
    system = hook_env["ATS_HOOK_SYSTEM_BUNDLES"]
    env = dict(hook_env, SSL_CERT_FILE=system, REQUESTS_CA_BUNDLE=system, AWS_CA_BUNDLE=system)
    without = subprocess.run([*OPENSSL_VERIFY, *INTERMEDIATES], env=env, capture_output=True)
    assert without.returncode != 0  # negative control: the variable's bundle lacks them
    proc = run_hook(["--", *DUMP_ENV], env)
    child = dumped(proc)["env"]
    for var in ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE", "AWS_CA_BUNDLE"):
        data = Path(child[var]).read_bytes()
        assert child[var] != system and data.startswith(Path(system).read_bytes()), var
        assert all(p.read_bytes() in data for p in ROOT_FILES), var
    assert len(proc.stderr.splitlines()) == 1 and "roots added: SSL_CERT_FILE" in proc.stderr
    verify = run_hook(["--", *OPENSSL_VERIFY, *INTERMEDIATES], env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    again = run_hook(["--", *DUMP_ENV], env)  # a restart: remembered, the same files
    assert dumped(again)["env"]["SSL_CERT_FILE"] == child["SSL_CERT_FILE"]


def test_a_variable_keeps_what_it_meant_plus_the_roots(hook_env, bundles, site_ca):
    """NODE_EXTRA_CA_CERTS, CURL_CA_BUNDLE and GIT_SSL_CAINFO naming another bundle
    (here: only a site CA): their copy is that bundle plus the roots, not ours."""
    site = str(bundles / "site-ca.pem")
    env = dict(hook_env, NODE_EXTRA_CA_CERTS=site, CURL_CA_BUNDLE=site, GIT_SSL_CAINFO=site)
    child = dumped(run_hook(["--", *DUMP_ENV], env))["env"]
    copy = child["NODE_EXTRA_CA_CERTS"]
    assert child["CURL_CA_BUNDLE"] == copy == child["GIT_SSL_CAINFO"] != site
    data = Path(copy).read_bytes()
    assert data.startswith(Path(site).read_bytes())
    assert (bundles / "noamazon.pem").read_bytes() not in data  # not the system's roots
    assert all(p.read_bytes() in data for p in ROOT_FILES)
    assert child["SSL_CERT_FILE"].endswith("/ca-bundle.pem")  # unset: ours, as before


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "AWS_CA_BUNDLE", "SSL_CERT_DIR"])
def test_a_variable_naming_nothing_readable_is_exit_3(hook_env, tmp_path, var):
    env = dict(hook_env, **{var: str(tmp_path / "no-such-bundle.pem")})
    if var == "SSL_CERT_DIR":
        env[var] = str(tmp_path / "no-such-dir")
    proc = run_hook(["--", "sh", "-c", "echo ran"], env)
    if var == "SSL_CERT_DIR":  # an empty list of places: the roots go in ours
        assert proc.returncode == 0 and proc.stdout == "ran\n", proc.stderr
        return
    assert proc.returncode == 3 and proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert lines[-1].startswith(f"ats-hook: error: {var} names "), lines
    warned = run_hook(["--mode", "warn", "--", "sh", "-c", "echo ran"], env)
    assert warned.returncode == 0 and warned.stdout == "ran\n"
    overridden = run_hook(["--override-env", "--", *DUMP_ENV], env)
    assert dumped(overridden)["env"][var].endswith("/ca-bundle.pem")


def test_ssl_cert_dir_gets_a_private_directory_after_yours(hook_env, bundles, tmp_path):
    need(shutil.which("openssl") is not None, "no openssl on the host", "TOOLS")
    theirs = tmp_path / "certs"
    theirs.mkdir()
    shutil.copy(bundles / "site-ca.pem", theirs / "site.pem")
    subprocess.run(["openssl", "rehash", str(theirs)], check=True, capture_output=True)
    # only the directories count: no default file, no store
    verify = ["openssl", "verify", "-no-CAfile", "-no-CAstore", *INTERMEDIATES]
    env = dict(hook_env, SSL_CERT_DIR=str(theirs))
    env["ATS_HOOK_SYSTEM_BUNDLES"] = str(bundles / "good.pem")  # only the directory lacks them
    without = subprocess.run(verify, env=env, capture_output=True)
    assert without.returncode != 0  # negative control
    before = sorted(os.listdir(theirs))
    child = dumped(run_hook(["--", *DUMP_ENV], env))["env"]
    first, ours = child["SSL_CERT_DIR"].split(":")
    assert first == str(theirs) and Path(ours).parent == private_dir(hook_env)
    assert sorted(os.listdir(theirs)) == before  # yours untouched
    assert len(os.listdir(ours)) == len(ROOT_FILES)
    through = run_hook(["--", *verify], env)
    assert through.returncode == 0, through.stdout + through.stderr


def test_exit_code_passes_through(hook_env):
    assert run_hook(["--", "sh", "-c", "exit 7"], hook_env).returncode == 7


def test_cmd_without_double_dash(hook_env):
    assert run_hook(["sh", "-c", "exit 5"], hook_env).returncode == 5


def test_cmd_not_found_is_127(hook_env):
    proc = run_hook(["--", "no-such-command-ats"], hook_env)
    assert proc.returncode == 127
    assert proc.stderr.splitlines()[-1].startswith("ats-hook: error: cannot run no-such-command")


def test_cmd_gets_default_sigpipe(hook_env):
    """Python ignores SIGPIPE for itself; CMD must not inherit that."""
    status = ["sh", "-c", "grep SigIgn /proc/$$/status"]
    direct = subprocess.run(status, capture_output=True, text=True).stdout
    via_hook = run_hook(["--", *status], hook_env)
    assert via_hook.stdout == direct


def test_locale_coercion_does_not_leak_into_cmd(hook_env):
    env = {k: v for k, v in hook_env.items() if not k.startswith(("LC_", "LANG"))}
    result = dumped(run_hook(["--", *DUMP_ENV], env))["env"]
    assert "LC_CTYPE" not in result
    kept = dumped(run_hook(["--", *DUMP_ENV], dict(env, LC_CTYPE="C.UTF-8")))["env"]
    assert kept["LC_CTYPE"] == "C.UTF-8"


def test_no_cmd_prints_shell_exports(hook_env):
    proc = run_hook([], hook_env)
    assert proc.returncode == 0
    bundle = private_dir(hook_env) / "ca-bundle.pem"
    assert f"export SSL_CERT_FILE='{bundle}'" in proc.stdout.splitlines()


# --- the fast path and the remembered answer


def test_fast_path_is_silent_and_remembered(hook_env, bundles):
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "good.pem"))
    first = run_hook(["--", *DUMP_ENV], env)
    assert first.stderr == ""
    assert not any(v in dumped(first)["env"] for v in EXPORTED)
    verbose = dict(env, ATS_HOOK_VERBOSE="1")
    second = run_hook(["--", "true"], verbose)
    assert second.returncode == 0
    assert "remembered: the store trusts the roots" in second.stderr
    assert "compiled parts: fast)" in second.stderr  # and its code was not compiled again
    assert "lacks" not in second.stderr  # no bundle read, nothing parsed


def test_remembered_answer_follows_the_bundle(hook_env, bundles, tmp_path):
    system = tmp_path / "system.pem"
    shutil.copy(bundles / "good.pem", system)
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(system), ATS_HOOK_VERBOSE="1")
    assert run_hook(["--", "true"], env).returncode == 0
    assert "remembered" in run_hook(["--", "true"], env).stderr
    shutil.copy(bundles / "noamazon.pem", system)  # new size, mtime, inode
    proc = run_hook(["--", *DUMP_ENV], env)
    assert "nothing remembered" in proc.stderr
    assert dumped(proc)["env"]["SSL_CERT_FILE"].endswith("/ca-bundle.pem")


def test_restart_reuses_the_private_bundle(hook_env):
    first = run_hook(["--", "true"], hook_env)
    assert "private CA bundle" in first.stderr
    again = run_hook(["--", *DUMP_ENV], dict(hook_env, ATS_HOOK_VERBOSE="1"))
    assert "remembered: {'bundle'" in again.stderr
    assert "private CA bundle" not in again.stderr  # nothing written this time
    assert dumped(again)["env"]["SSL_CERT_FILE"].endswith("/ca-bundle.pem")


def test_cache_in_a_directory_others_can_write_is_ignored(hook_env, bundles):
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "good.pem"), ATS_HOOK_VERBOSE="1")
    run_hook(["--", "true"], env)
    home = private_dir(hook_env)
    assert (home / "answers").exists()
    home.chmod(0o777)
    proc = run_hook(["--", "true"], env)
    assert "nothing remembered" in proc.stderr
    fresh = [p for p in home.parent.iterdir() if p.name.startswith(home.name + "-")]
    assert len(fresh) == 1 and stat.S_IMODE(fresh[0].stat().st_mode) == 0o700


@pytest.mark.parametrize("spoil", ["writable by others", "not code"])
def test_compiled_code_is_believed_only_when_safe(hook_env, bundles, spoil):
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "good.pem"), ATS_HOOK_VERBOSE="1")
    run_hook(["--", "true"], env)
    (code,) = private_dir(hook_env).glob("code-fast-*")
    if spoil == "writable by others":
        code.chmod(0o666)
    else:
        code.write_bytes(b"not marshal data")
    proc = run_hook(["--", "sh", "-c", "exit 6"], env)
    assert proc.returncode == 6
    assert "compiled parts: none" in proc.stderr


@pytest.mark.parametrize("place", ["writable", "read-only"])
def test_another_pythons_answer_gets_this_pythons_code_kept(hook_env, bundles, place):
    """An answer one Python remembered (the image's, or the ats-hook image's at
    build time) read by another: that one compiles its fast part once and keeps
    it beside the answer, so its next start compiles nothing. Where the place is
    read-only it compiles at each start, and still runs CMD."""
    python = require_old_python("3.7")
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "good.pem"), ATS_HOOK_VERBOSE="1")
    run_hook(["--", "true"], env)  # this Python remembers the answer and its own code
    home = private_dir(hook_env)
    argv = [*hook_argv(python), "--", "sh", "-c", "exit 5"]
    if place == "read-only":
        mount = f'mount --bind {home} {home} && mount -o remount,bind,ro {home} && exec "$@"'
        argv = ["unshare", "--mount", "sh", "-c", mount, "sh", *argv]
    starts = [
        subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120) for _ in range(2)
    ]
    assert [p.returncode for p in starts] == [5, 5], starts[0].stderr
    assert all("remembered: the store trusts the roots" in p.stderr for p in starts)
    assert "compiled parts: none)" in starts[0].stderr
    kept = "compiled parts: fast)" if place == "writable" else "compiled parts: none)"
    assert kept in starts[1].stderr, starts[1].stderr


@pytest.mark.parametrize("python", ["3.7", "this"])
def test_modules_beside_the_hook_are_not_imported(hook_env, bundles, tmp_path, python):
    """The hook's directory (say /usr/local/bin) is sys.path[0] of a plain
    `python3 ats-hook`: a re.py there must not run inside the hook (its
    options part imports re). Negative control: the same re.py is imported by
    a script beside it, so the plant works."""
    exe = require_old_python(python) if python != "this" else sys.executable
    where = tmp_path / "bin"
    where.mkdir()
    shutil.copy(HOOK, where / "ats-hook")
    planted = tmp_path / "planted-ran"
    (where / "re.py").write_text(f"open({str(planted)!r}, 'w').close()\nraise SystemExit(9)\n")
    env = dict(hook_env, ATS_HOOK_SYSTEM_BUNDLES=str(bundles / "good.pem"))
    proc = subprocess.run([exe, str(where / "ats-hook"), "--mode", "warn", "--", "true"],
                          env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert not planted.exists()
    (where / "probe").write_text("import re\n")
    control = subprocess.run([exe, str(where / "probe")], env=env, capture_output=True, timeout=60)
    assert control.returncode == 9 and planted.exists()


# --- modes, export, bad input


def test_enforce_stops_with_exit_3_and_one_line(hook_env, tmp_path):
    env = dict(hook_env, ATS_HOOK_DIR=str(tmp_path / "missing" / "dir"))
    proc = run_hook(["--", "sh", "-c", "echo ran"], env)
    assert proc.returncode == 3
    assert proc.stdout == ""
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("ats-hook: error: no writable place")


def test_warn_runs_cmd_anyway(hook_env, tmp_path):
    env = dict(hook_env, ATS_HOOK_DIR=str(tmp_path / "missing" / "dir"))
    proc = run_hook(["--mode", "warn", "--", "sh", "-c", "echo ran; exit 4"], env)
    assert proc.returncode == 4 and proc.stdout == "ran\n"
    assert proc.stderr.startswith("ats-hook: warning: no writable place")
    by_env = run_hook(["--", "true"], dict(env, ATS_HOOK_MODE="warn"))
    assert by_env.returncode == 0


@pytest.mark.parametrize(
    "args",
    [["--mode", "strict", "--", "true"], ["--bogus", "--", "true"], ["--extra-ca"]],
)
def test_bad_usage_is_exit_2(hook_env, args):
    proc = run_hook(args, hook_env)
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1


def test_help_and_version(hook_env):
    assert "usage: ats-hook" in run_hook(["--help"], hook_env).stdout
    assert run_hook(["--version"], hook_env).stdout.startswith("ats-hook ")


def test_export_writes_bundle_and_exits(hook_env, tmp_path):
    dest = tmp_path / "export" / "ats"
    proc = run_hook(["--export", str(dest)], hook_env)
    assert proc.returncode == 0, proc.stderr
    bundle = dest / "ca-bundle.pem"
    assert stat.S_IMODE(bundle.stat().st_mode) == 0o644
    assert stat.S_IMODE(dest.stat().st_mode) == 0o755  # shared, unlike the private dir
    assert bundle.read_bytes().count(b"BEGIN CERTIFICATE") == 3 + 5
    by_env = run_hook([], dict(hook_env, ATS_HOOK_EXPORT=str(tmp_path / "e2")))
    assert by_env.returncode == 0 and (tmp_path / "e2" / "ca-bundle.pem").exists()
    assert run_hook(["--export", str(dest), "--", "true"], hook_env).returncode == 2


def _write_cert(path, cert):
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _self_signed(days_from, days_to, ca=True):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "ats-hook test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + datetime.timedelta(days=days_from))
        .not_valid_after(now + datetime.timedelta(days=days_to))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def test_extra_ca_is_checked(hook_env, tmp_path, site_ca):
    leaf = tmp_path / "leaf.pem"
    site_ca.issue_cert("localhost").cert_chain_pems[0].write_to_path(str(leaf))
    expired = tmp_path / "expired.pem"
    _write_cert(expired, _self_signed(-30, -1))
    not_ca = tmp_path / "not-ca.pem"
    _write_cert(not_ca, _self_signed(-1, 30, ca=False))
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    for path, words in [
        (leaf, "is not a CA certificate"),
        (not_ca, "ats-hook test is not a CA certificate"),
        (expired, "expired on"),
        (junk, "not a PEM CA certificate"),
        (tmp_path / "missing.pem", "cannot read"),
    ]:
        proc = run_hook(["--extra-ca", str(path), "--", "true"], hook_env)
        assert proc.returncode == 2, path
        assert words in proc.stderr and len(proc.stderr.splitlines()) == 1, proc.stderr


# --- real TLS: a local server whose CA only the hook makes trusted


@pytest.fixture
def https_server(site_ca):
    server_cert = site_ca.issue_cert("localhost")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"hello over TLS")

        def log_message(self, *args):
            pass

    httpd = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_cert.configure_cert(context)
    httpd.socket = context.wrap_socket(httpd.socket, server_side=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{httpd.server_address[1]}/"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_tls_handshake_succeeds_only_through_the_hook(hook_env, bundles, https_server):
    fetch = [
        sys.executable,
        "-S",
        "-c",
        f"import urllib.request; print(urllib.request.urlopen({https_server!r}).read().decode())",
    ]
    ca = str(bundles / "site-ca.pem")
    without = subprocess.run(
        fetch,
        env=dict(hook_env, SSL_CERT_FILE=hook_env["ATS_HOOK_SYSTEM_BUNDLES"]),
        capture_output=True,
        text=True,
    )
    assert without.returncode != 0 and "CERTIFICATE_VERIFY_FAILED" in without.stderr
    proc = run_hook(["--extra-ca", ca, "--", *fetch], hook_env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "hello over TLS"
    by_env = run_hook(["--", *fetch], dict(hook_env, ATS_HOOK_EXTRA_CA=ca))
    assert by_env.stdout.strip() == "hello over TLS"


# --- the SES preflight, against a local SMTP server


@pytest.fixture
def smtp_server(site_ca):
    """A tiny SMTP server: greeting, EHLO, STARTTLS (or TLS at once), then QUIT."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    site_ca.issue_cert("localhost").configure_cert(context)
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(30)
    # handshook: set by the server thread after it counted one (the hook may exit first).
    state = {"implicit": False, "handshakes": 0, "handshook": threading.Event()}

    def serve():
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            with conn:
                try:
                    if not state["implicit"]:
                        f = conn.makefile("rb")
                        conn.sendall(b"220 localhost ESMTP test\r\n")
                        f.readline()
                        conn.sendall(b"250-localhost\r\n250 STARTTLS\r\n")
                        f.readline()
                        conn.sendall(b"220 Ready to start TLS\r\n")
                    tls = context.wrap_socket(conn, server_side=True)
                    state["handshakes"] += 1
                    state["handshook"].set()
                    tls.recv(100)
                    tls.close()
                except (OSError, ssl.SSLError):
                    pass

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], state
    finally:
        listener.close()


def test_preflight_starttls(hook_env, bundles, smtp_server):
    port, state = smtp_server
    ca = str(bundles / "site-ca.pem")
    proc = run_hook(
        ["--extra-ca", ca, "--preflight-ses", f"localhost:{port}", "--", "true"], hook_env
    )
    assert proc.returncode == 0, proc.stderr
    assert state["handshook"].wait(30) and state["handshakes"] == 1
    failed = run_hook(["--preflight-ses", f"localhost:{port}", "--", "echo", "ran"], hook_env)
    assert failed.returncode == 4 and failed.stdout == ""
    line = failed.stderr.splitlines()[-1]
    assert line.startswith(f"ats-hook: error: preflight TLS handshake with localhost:{port} failed")
    assert "certificate verify failed" in line


def test_preflight_implicit_tls_by_env(hook_env, bundles, smtp_server):
    port, state = smtp_server
    state["implicit"] = True
    env = dict(
        hook_env,
        ATS_HOOK_EXTRA_CA=str(bundles / "site-ca.pem"),
        ATS_HOOK_PREFLIGHT_SES=f"smtps://localhost:{port}",
    )
    proc = run_hook(["--", "true"], env)
    assert proc.returncode == 0, proc.stderr
    assert state["handshook"].wait(30) and state["handshakes"] == 1


@pytest.mark.parametrize("value", ["Not A Region", "us-east-1:port", "ftp://host:1"])
def test_preflight_bad_target_is_usage(hook_env, value):
    assert run_hook(["--preflight-ses", value, "--", "true"], hook_env).returncode == 2


# --- Java: a copy of the JVM's cacerts with the roots, through JAVA_TOOL_OPTIONS


@pytest.fixture
def fake_jvm(tmp_path):
    """A JAVA_HOME whose cacerts holds one unrelated CA (this machine's java and keytool)."""
    java, keytool = shutil.which("java"), shutil.which("keytool")
    need(bool(java and keytool), "no java and keytool on the host", "TOOLS")
    home = tmp_path / "jvm"
    (home / "bin").mkdir(parents=True)
    (home / "lib" / "security").mkdir(parents=True)
    os.symlink(os.path.realpath(java), home / "bin" / "java")
    os.symlink(os.path.realpath(keytool), home / "bin" / "keytool")
    ca = tmp_path / "one.pem"
    trustme.CA().cert_pem.write_to_path(str(ca))
    store = home / "lib" / "security" / "cacerts"
    subprocess.run(
        [keytool, "-importcert", "-noprompt", "-alias", "one", "-file", str(ca)]
        + ["-keystore", str(store), "-storetype", "JKS", "-storepass", "changeit"],
        check=True,
        capture_output=True,
    )
    return home


def keystore_aliases(keytool, store):
    out = subprocess.run(
        [keytool, "-list", "-keystore", store, "-storepass", "changeit"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {line.split(",")[0] for line in out.splitlines() if "trustedCertEntry" in line}


def test_java_store_gets_each_root(hook_env, bundles, fake_jvm):
    env = dict(hook_env, JAVA_HOME=str(fake_jvm), ATS_HOOK_JAVA="auto")
    env["ATS_HOOK_SYSTEM_BUNDLES"] = str(bundles / "good.pem")  # only Java lacks them
    keytool = str(fake_jvm / "bin" / "keytool")
    jvm_store = str(fake_jvm / "lib" / "security" / "cacerts")
    assert keystore_aliases(keytool, jvm_store) == {"one"}  # negative control: no root
    proc = run_hook(["--", *DUMP_ENV], env)
    child = dumped(proc)["env"]
    assert "Java trust store" in proc.stderr and len(proc.stderr.splitlines()) == 1
    opts = child["JAVA_TOOL_OPTIONS"]
    store = opts.split("-Djavax.net.ssl.trustStore=")[1].split()[0]
    assert Path(store).parent == private_dir(hook_env)
    assert "-Djavax.net.ssl.trustStoreType=JKS" in opts
    aliases = keystore_aliases(str(fake_jvm / "bin" / "keytool"), store)
    assert aliases == {"one"} | {"ats-" + p.stem.lower() for p in ROOT_FILES}
    assert "SSL_CERT_FILE" not in child  # the system bundle was fine
    user = dumped(run_hook(["--", *DUMP_ENV], dict(env, JAVA_TOOL_OPTIONS="-Xmx64m")))["env"]
    assert user["JAVA_TOOL_OPTIONS"].startswith("-Xmx64m -Djavax.net.ssl.trustStore=")
    complete = Path(store).parent / "complete.jks"  # a store of yours with every root
    shutil.copy(store, complete)
    theirs = f"-Xss1m -Djavax.net.ssl.trustStore={complete}"
    kept = dumped(run_hook(["--", *DUMP_ENV], dict(env, JAVA_TOOL_OPTIONS=theirs)))["env"]
    assert kept["JAVA_TOOL_OPTIONS"] == theirs


def test_a_keytool_that_hangs_is_stopped_and_is_exit_3(hook_env, bundles, fake_jvm):
    """A JVM whose keytool never returns must not hold CMD's start forever: it
    is stopped after ATS_HOOK_KEYTOOL_TIMEOUT seconds, one line, exit 3, CMD
    not run. Control: the real keytool under the same short timeout adds the
    roots. A timeout that is not seconds is bad usage (2)."""
    env = dict(hook_env, JAVA_HOME=str(fake_jvm), ATS_HOOK_JAVA="auto",
               ATS_HOOK_KEYTOOL_TIMEOUT="5")
    env["ATS_HOOK_SYSTEM_BUNDLES"] = str(bundles / "good.pem")  # only Java lacks them
    control = run_hook(["--", "true"], env)
    assert control.returncode == 0 and "Java trust store" in control.stderr, control.stderr
    keytool = fake_jvm / "bin" / "keytool"
    keytool.unlink()
    keytool.write_text("#!/bin/sh\nexec sleep 600\n")
    keytool.chmod(0o755)
    shutil.rmtree(private_dir(hook_env))  # no remembered answer: a first start again
    env["ATS_HOOK_KEYTOOL_TIMEOUT"] = "0.5"
    start = time.monotonic()
    hung = run_hook(["--", "sh", "-c", "echo ran"], env)
    assert time.monotonic() - start < 30
    assert hung.returncode == 3 and hung.stdout == "", hung.stderr
    assert hung.stderr.count("\n") == 1 and "keytool ran longer than 0.5 s" in hung.stderr
    for bad in ("soon", "0", "-1", "inf", "nan"):
        usage = run_hook(["--", "true"], dict(env, ATS_HOOK_KEYTOOL_TIMEOUT=bad))
        assert usage.returncode == 2 and "ATS_HOOK_KEYTOOL_TIMEOUT" in usage.stderr, bad


def test_java_trust_store_you_named_gets_the_roots(hook_env, bundles, fake_jvm):
    """JAVA_TOOL_OPTIONS naming a store that lacks the roots: a copy of it (your
    type, your password) with them replaces it; one that cannot be read is exit 3."""
    env = dict(hook_env, JAVA_HOME=str(fake_jvm), ATS_HOOK_JAVA="auto")
    env["ATS_HOOK_SYSTEM_BUNDLES"] = str(bundles / "good.pem")
    yours = str(fake_jvm / "lib" / "security" / "cacerts")  # one unrelated CA
    options = "-Xss1m -Djavax.net.ssl.trustStore=%s -Djavax.net.ssl.trustStorePassword=changeit"
    proc = run_hook(["--", *DUMP_ENV], dict(env, JAVA_TOOL_OPTIONS=options % yours))
    opts = dumped(proc)["env"]["JAVA_TOOL_OPTIONS"]
    store = opts.split("-Djavax.net.ssl.trustStore=")[1].split()[0]
    assert store != yours and Path(store).parent == private_dir(hook_env)
    assert opts == options % store  # the rest of your options as they were
    aliases = keystore_aliases(str(fake_jvm / "bin" / "keytool"), store)
    assert aliases == {"one"} | {"ats-" + p.stem.lower() for p in ROOT_FILES}
    gone = dict(env, JAVA_TOOL_OPTIONS=options % "/no/such/store")
    refused = run_hook(["--", "true"], gone)
    assert refused.returncode == 3 and "names the trust store /no/such/store" in refused.stderr


def test_java_handshake_succeeds_only_through_the_hook(hook_env, bundles, fake_jvm, https_server):
    """A real JVM handshake: Java uses the store the hook made, --extra-ca included."""
    env = dict(hook_env, JAVA_HOME=str(fake_jvm), ATS_HOOK_JAVA="auto")
    env["ATS_HOOK_SYSTEM_BUNDLES"] = str(bundles / "good.pem")
    src = Path(env["ATS_HOOK_DIR"]).parent / "Fetch.java"
    src.write_text(
        "public class Fetch { public static void main(String[] a) throws Exception {"
        " var c = (javax.net.ssl.HttpsURLConnection) new java.net.URL(a[0]).openConnection();"
        " System.out.println(c.getResponseCode()); } }"
    )
    java = [str(fake_jvm / "bin" / "java"), str(src), https_server]
    without = subprocess.run(java, env=env, capture_output=True, text=True)
    assert without.returncode != 0 and "PKIX path building failed" in without.stderr
    proc = run_hook(["--extra-ca", str(bundles / "site-ca.pem"), "--", *java], env)
    assert proc.stdout.strip() == "200", proc.stderr


def test_copy_bundle_needs_the_bundle(hook_env, tmp_path):
    """--copy-bundle only means something in the ats-hook image (tested in
    tests/matrix/test_hook_ways.py); the one-file hook says so, exit 2."""
    proc = run_hook(["--copy-bundle", str(tmp_path / "dest")], hook_env)
    assert proc.returncode == 2 and "not running from its bundle" in proc.stderr
    assert not (tmp_path / "dest").exists()
    with_cmd = run_hook(["--copy-bundle", str(tmp_path / "dest"), "--", "true"], hook_env)
    assert with_cmd.returncode == 2 and "takes no CMD" in with_cmd.stderr

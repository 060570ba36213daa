"""arm64 under emulation: qemu-user-static from Debian's packages, registered with
binfmt_misc with the F flag (the kernel opens the interpreter once, at
registration, so it runs arm64 binaries inside chroots and containers that have
no qemu of their own).

setup() is idempotent and writes down what it did in .cache/emulation.json;
teardown() undoes exactly that and nothing else (a registration or a mount it
found already there stays). status() says whether arm64 binaries can run here
and, if not, why ("no binfmt_misc", ...): the arm64 rows quote it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
STATE = REPO / ".cache" / "emulation.json"
BINFMT = Path("/proc/sys/fs/binfmt_misc")
ENTRY = BINFMT / "qemu-aarch64"
PACKAGE = "qemu-user-static"
INTERPRETER = "/usr/bin/qemu-aarch64-static"
# Debian's own description of aarch64 ELF files (magic and mask), from the package.
DEBIAN_CONF = Path("/usr/lib/binfmt.d/qemu-aarch64.conf")
REQUIRE_ENV = "ATS_REQUIRE_ARM64"


class EmulationError(Exception):
    pass


def _run(argv: list, timeout: int = 600) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL": "C",
           "DEBIAN_FRONTEND": "noninteractive"}
    return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout,
                          check=False)


def _mounted() -> bool:
    return (BINFMT / "register").exists()


def _entry() -> dict:
    """The qemu-aarch64 registration as the kernel reports it ({} if none)."""
    try:
        lines = ENTRY.read_text().splitlines()
    except OSError:
        return {}
    info = {"enabled": bool(lines) and lines[0] == "enabled"}
    for line in lines[1:]:
        key, _, value = line.partition(" ")
        info[key] = value.strip()
    return info


def status() -> str | None:
    """None when arm64 binaries run here, else why not (one short phrase)."""
    if not _mounted():
        return "no binfmt_misc"
    entry = _entry()
    if not entry:
        return "no binfmt_misc entry for qemu-aarch64"
    if not entry["enabled"]:
        return "binfmt_misc entry qemu-aarch64 disabled"
    if "F" not in entry.get("flags:", ""):
        return "qemu-aarch64 registered without the F flag (containers cannot use it)"
    return None


def _registration() -> str:
    """Debian's magic and mask, with the static interpreter and the F flag."""
    fields = DEBIAN_CONF.read_text().strip().split(":")
    # :name:type:offset:magic:mask:interpreter:flags
    if len(fields) != 8 or fields[1] != "qemu-aarch64":
        raise EmulationError(f"{DEBIAN_CONF}: not the expected binfmt line")
    fields[6], fields[7] = INTERPRETER, "F"
    return ":".join(fields)


def _read_state() -> dict:
    try:
        return json.loads(STATE.read_text())
    except (OSError, ValueError):
        return {}


def _write_state(state: dict) -> None:
    STATE.parent.mkdir(parents=True, exist_ok=True)
    partial = STATE.with_suffix(".partial")
    partial.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n")
    os.replace(partial, STATE)


def setup() -> list[str]:
    """Make arm64 binaries run here; returns what was done (empty: nothing to do)."""
    done = []
    state = _read_state()
    if status() is None:
        return done
    if os.geteuid() != 0:
        raise EmulationError("needs root (apt-get, mount, binfmt_misc)")
    if not Path(INTERPRETER).exists() or not DEBIAN_CONF.exists():
        proc = _run(["apt-get", "install", "-y", "--no-install-recommends", PACKAGE])
        if proc.returncode != 0:
            _run(["apt-get", "update"])
            proc = _run(["apt-get", "install", "-y", "--no-install-recommends", PACKAGE])
        if proc.returncode != 0:
            raise EmulationError(f"apt-get install {PACKAGE} failed: "
                                 f"{(proc.stderr or proc.stdout).strip().splitlines()[-1:]}")
        state["installed"] = PACKAGE
        done.append(f"installed {PACKAGE}")
    if not _mounted():
        if "binfmt_misc" not in Path("/proc/filesystems").read_text():
            raise EmulationError("no binfmt_misc in this kernel")
        proc = _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(BINFMT)])
        if proc.returncode != 0:
            raise EmulationError(f"no binfmt_misc: mount failed: {proc.stderr.strip()}")
        state["mounted"] = str(BINFMT)
        done.append(f"mounted binfmt_misc on {BINFMT}")
    if not _entry():
        (BINFMT / "register").write_text(_registration())
        state["registered"] = ENTRY.name
        done.append(f"registered {ENTRY.name} ({INTERPRETER}, flags F)")
    _write_state(state)
    why = status()
    if why:
        raise EmulationError(why)
    return done


def teardown() -> list[str]:
    """Undo what setup() did (and only that); returns what was undone."""
    state = _read_state()
    undone = []
    if state.get("registered") and ENTRY.exists():
        ENTRY.write_text("-1")
        undone.append(f"unregistered {ENTRY.name}")
    if state.get("mounted") and _mounted():
        proc = _run(["umount", state["mounted"]])
        if proc.returncode == 0:
            undone.append(f"unmounted binfmt_misc from {state['mounted']}")
    if state.get("installed") and shutil.which("dpkg"):
        proc = _run(["apt-get", "remove", "-y", state["installed"]])
        if proc.returncode == 0:
            undone.append(f"removed {state['installed']}")
    STATE.unlink(missing_ok=True)
    return undone


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1"

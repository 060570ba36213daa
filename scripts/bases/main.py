"""build-bases: make the ats-local/* base images, cached by recipe hash.

For each base there are two cached things: the root file system tarball
(.cache/bases/<slug>.tar, with <slug>.json saying which recipe made it) and the
Docker image (its io.ats-roots.base.recipe label). A base is rebuilt only when
its tarball is missing or stale; it is re-imported when only the image is.

Two bases build at once (this machine has two cores). A base waits for its
parent, and an amd64 Debian base for the first one of its suite, so that the
.deb files are downloaded once and shared (.cache/apt/<suite>-<arch>); the
emulated (arm64) bases go first and do not wait for each other: they are the
longest chain.
arm64 bases need emulation (scripts/emulation); where it is missing they are
skipped with the reason, or fail with ATS_REQUIRE_ARM64=1.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

from . import emulation, images
from .builders import BUILDERS, Context, amd64_twin
from .recipes import BASES, BY_NAME, Base, find, recipe, with_parents
from .util import BuildError, check_host, log, new_rootfs, pack, step, unpack, workdir

REPO = Path(__file__).resolve().parents[2]
# ATS_BASES_DIR: another tarball dir, for a trial build beside the real cache
# (with ATS_BASES_REPO naming its images, scripts/bases/recipes.py).
CACHE = Path(os.environ.get("ATS_BASES_DIR") or REPO / ".cache" / "bases")
DOWNLOADS = REPO / ".cache" / "downloads"
APT_CACHE = REPO / ".cache" / "apt"
WORKERS = 2
MANIFEST = CACHE / "manifest.json"


def tar_path(base: Base) -> Path:
    return CACHE / f"{base.slug}.tar"


def stamp_path(base: Base) -> Path:
    return CACHE / f"{base.slug}.json"


def read_stamp(base: Base):
    """What the cached tarball was built from, or None if there is no usable tarball."""
    try:
        stamp = json.loads(stamp_path(base).read_text())
    except (OSError, ValueError):
        return None
    return stamp if tar_path(base).exists() and stamp.get("recipe") == recipe(base) else None


def current_tar(name: str):
    """The tarball of base `name` if it is built from its current recipe, else None."""
    base = BY_NAME.get(name)
    return tar_path(base) if base and read_stamp(base) else None


def build_tar(base: Base) -> dict:
    """Make the base's root file system and pack it; returns the new stamp."""
    with workdir() as work:
        rootfs = new_rootfs(work)
        if base.parent:
            with step(base.name, f"unpack {base.parent}"):
                unpack(tar_path(BY_NAME[base.parent]), rootfs)
        ctx = Context(work, DOWNLOADS, APT_CACHE, tar_of=current_tar)
        origin = BUILDERS[base.kind](base, rootfs, ctx)
        with step(base.name, f"pack {tar_path(base).relative_to(REPO)}"):
            pack(rootfs, tar_path(base))
    stamp = {
        "recipe": recipe(base),
        "origin": origin,
        "created": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    stamp_path(base).write_text(json.dumps(stamp, indent=2) + "\n")
    return stamp


def ensure(base: Base) -> str:
    """Bring one base up to date: nothing, import only, or build and import.
    Returns which of the three it did."""
    start = time.monotonic()
    want = recipe(base)
    stamp = read_stamp(base)
    labels = images.labels_of(base.image) or {}
    right_arch = base.arch == "amd64" or images.architecture(base.image) == base.arch
    if stamp and labels.get(images.LABEL_RECIPE) == want and right_arch:
        log(f"{base.name}: up to date (recipe {want[:12]})")
        return "up to date"
    state = "imported" if stamp else "built"
    if not stamp:
        stamp = build_tar(base)
    with step(base.name, f"docker import {base.image}"):
        images.import_tar(
            base, tar_path(base), images.labels_for(base, want, stamp["origin"], stamp["created"])
        )
    size = images.image_size(base.image) / 1e6
    log(f"{base.name}: ready in {time.monotonic() - start:.1f}s ({size:.0f} MB)")
    return state


def write_manifest() -> None:
    """manifest.json lists every base whose tarball is current, for the tests."""
    entries = {}
    for base in BASES:
        if read_stamp(base):
            entries[base.name] = {
                "tar": str(tar_path(base).relative_to(REPO)),
                "image": base.image,
                "recipe": recipe(base),
                "flavor": base.flavor,
                "has_python": base.has_python,
                "parent": base.parent,
                "arch": base.arch,
            }
    partial = MANIFEST.with_suffix(".partial")
    partial.write_text(json.dumps(entries, indent=2, sort_keys=True) + "\n")
    os.replace(partial, MANIFEST)


def write_timings(timings: dict, seconds: float) -> None:
    """results/bases.json: each base's seconds in this run (scripts/bench adds
    up the arm64 ones), and the run's wall time."""
    results = Path(os.environ.get("ATS_RESULTS_DIR") or REPO / "results")
    results.mkdir(parents=True, exist_ok=True)
    partial = results / "bases.json.partial"
    body = {"seconds": round(seconds, 1), "workers": WORKERS, "bases": timings}
    partial.write_text(json.dumps(body, indent=2, sort_keys=True) + "\n")
    os.replace(partial, results / "bases.json")


def dependencies(bases: list) -> dict:
    """base name -> names it must wait for: its parent, for an amd64 Debian base
    the first base of the same suite (whose downloads it then reuses), and
    for an emulated no-amazon base its amd64 twin and the twin's parent, when
    they are built too (builders.shared_store takes the twin's CA store)."""
    first: dict = {}
    deps = {}
    names = {b.name for b in bases}
    for base in bases:
        deps[base.name] = {base.parent} if base.parent else set()
        twin = amd64_twin(base)
        if twin is not None:
            deps[base.name] |= {twin.name, twin.parent} & names
        # Not an emulated one: its mmdebstrap (~3 min under qemu-user) is the
        # longest chain of the whole build, so both arm64 ones start at once
        # and pay the second download of a few dozen .deb files instead.
        if base.kind == "mmdebstrap" and base.arch == "amd64":
            key = (base.params["suite"], base.arch)
            if key in first:
                deps[base.name].add(first[key])
            else:
                first[key] = base.name
    return deps


def build_all(bases: list, timings: dict | None = None) -> dict:
    """Ensure every base, WORKERS at a time; returns name -> error text for the
    ones that failed or were skipped (a base whose dependency failed is skipped).
    timings gets name -> arch, what was done and its seconds."""
    timings = {} if timings is None else timings
    deps = dependencies(bases)
    problems: dict = {}
    done: set = set()
    lock = threading.Lock()
    no_arm64 = emulation.status()
    # Emulated bases first: the pool runs what is submitted in order, and they
    # are the long ones (the amd64 bases fill the other worker meanwhile).
    pending = sorted(bases, key=lambda b: b.arch == "amd64")
    running: dict = {}

    def one(base: Base) -> None:
        start = time.monotonic()
        try:
            state = ensure(base)
            with lock:
                timings[base.name] = {"arch": base.arch, "state": state,
                                      "seconds": round(time.monotonic() - start, 1)}
        except BuildError as err:
            where = ""
            if err.output:
                logfile = CACHE / f"{base.slug}.log"
                logfile.write_text(err.output)
                where = f"(log: {logfile.relative_to(REPO)}) "
            with lock:
                problems[base.name] = f"error: {where}{err}"

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        while pending or running:
            for base in list(pending):
                blocked = [d for d in deps[base.name] if d in problems]
                if blocked:
                    problems[base.name] = f"skipped: needs {blocked[0]}"
                elif base.arch != "amd64" and no_arm64:
                    problems[base.name] = f"skipped: {no_arm64}"
                elif not deps[base.name] <= done:
                    continue
                else:
                    running[pool.submit(one, base)] = base
                pending.remove(base)
                if base.name in problems:
                    log(f"{base.name}: {problems[base.name]}")
            if not running:
                continue
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()
                done.add(running.pop(future).name)
    return problems


def list_bases() -> None:
    for base in BASES:
        if not read_stamp(base):
            state = "missing"
        elif (images.labels_of(base.image) or {}).get(images.LABEL_RECIPE) == recipe(base):
            state = "built"
        else:
            state = "tar only"
        print(f"{base.name:26} {base.image:36} {base.flavor:7} python={base.has_python:8} {state}")


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="build-bases", description="Build the local ats-local/* base images."
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="NAME",
        help="build only this base (and its parent); repeatable, "
        "e.g. debian:bookworm or alpine-python-3.23",
    )
    parser.add_argument("--list", action="store_true", help="list the bases and their state")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    try:
        selected = [find(name) for name in args.only] or list(BASES)
    except KeyError as err:
        print(f"[bases] error: {err.args[0]}", file=sys.stderr)
        return 2
    if args.list:
        list_bases()
        return 0
    start = time.monotonic()
    try:
        check_host()
        CACHE.mkdir(parents=True, exist_ok=True)
        timings: dict = {}
        problems = build_all(with_parents(selected), timings)
        write_manifest()
        write_timings(timings, time.monotonic() - start)
    except BuildError as err:
        print(f"[bases] error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("[bases] interrupted", file=sys.stderr)
        return 130
    failed = {n: why for n, why in problems.items() if not why.startswith("skipped:")}
    if emulation.required():
        failed.update({n: f"{why} ({emulation.REQUIRE_ENV}=1)" for n, why in problems.items()
                       if BY_NAME[n].arch != "amd64" and n not in failed})
    for name, why in failed.items():
        print(f"[bases] {name}: {why}", file=sys.stderr)
    skipped = len(problems) - len(failed)
    tail = f"; {skipped} skipped" if skipped else ""
    tail += f"; {len(failed)} failed" if failed else ""
    log(f"all done in {time.monotonic() - start:.1f}s{tail}")
    return 1 if failed else 0

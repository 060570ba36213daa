#!/usr/bin/env python3
"""Time the start-time hook against a bare Python start, in one run; nothing asserted.

Every number is measured inside one running container per case (a timing
loop started with `docker exec`), so Docker's own overhead stays out of it;
the commands of a case take turns, run after run, so that a busy machine
slows them alike. Medians of --runs runs each.

  fast path     ats-local/debian:bookworm as root: the store trusts the roots and
                the answer is remembered: `python3 -I -S ats-hook -- true` (as
                hooks/README.md starts it) vs `python3 -c pass`; beside it the
                same against `python3 -I -S -c pass`, and `python3 ats-hook`
  slow path     ats-local/debian-noamazon:bookworm as --user 1000 --read-only
                --tmpfs /tmp: a private merged bundle (~150 roots) built from
                scratch at every start (a fresh ATS_HOOK_DIR each run), and the
                restart that finds it remembered
  bundled       the same fast path through ats-hook:<version> (the hook with its
                own CPython, from a volume at /ats): `/ats/ats-hook -- true` vs
                that CPython's `-c pass`, started the same way (its musl loader,
                the same flags); its size beside it
  alternative   update-ca-certificates at every start (the roots as local
                anchors), as root in ats-local/debian:bookworm

    scripts/bench_hook.py [--runs N] [--json] [--hook FILE] [--hook-image IMAGE]
                          [--baseline-hook FILE] [--baseline-image IMAGE]

--hook and --hook-image time another hook or bundle (e.g. a build under a
test tag); --baseline-hook and --baseline-image time a second one beside them
in the same containers, taking turns run after run (e.g. main's, to compare
a change without the machine's load between two runs deciding it).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path

import docker

REPO = Path(__file__).resolve().parent.parent
HOOK = REPO / "src" / "ats_roots" / "hook" / "ats-hook"
FAST_IMAGE = "ats-local/debian:bookworm"
SLOW_IMAGE = "ats-local/debian-noamazon:bookworm"
TARGETS = {"fast": 1.10, "bundled": 1.20, "slow_first": 2.0}
sys.path.insert(0, str(REPO / "src"))
from ats_roots import __version__  # noqa: E402

HOOK_IMAGE = f"ats-hook:{__version__}"
BASELINE_HOOK = "/usr/local/bin/ats-hook-baseline"  # where --baseline-hook is mounted
BASELINE_BUNDLE = "/ats-baseline"  # and --baseline-image's bundle
# How hooks/README.md starts the one-file hook: isolated from the image's
# PYTHON* variables and user site (-I), no site-packages or .pth files (-S).
ISOLATED = ["-I", "-S"]
# The bundled CPython as the launcher starts it (images/hook/launcher.c), minus the hook.
BUNDLED_PASS = ["/ats/lib/ld-musl-x86_64.so.1", "--library-path", "/ats/lib",
                "/ats/bin/python3", "-I", "-S", "-B", "-c", "pass"]

# Runs inside the container: cases take turns; each run may have an untimed setup.
DRIVER = r"""
import json, os, subprocess, sys, time
spec = json.loads(sys.argv[1])
times = {name: [] for name in spec["cases"]}
null = open(os.devnull, "w")
for name, case in spec["cases"].items():  # warm-up: caches, page cache, remembered answers
    env = dict(os.environ, **case.get("env", {}))
    if env.get("ATS_HOOK_DIR"):
        os.makedirs(env["ATS_HOOK_DIR"], exist_ok=True)
    subprocess.run(case["argv"], stdout=null, stderr=null, env=env)
for i in range(spec["runs"]):
    for name, case in spec["cases"].items():
        env = dict(os.environ, **case.get("env", {}))
        if case.get("fresh_dir"):
            env["ATS_HOOK_DIR"] = "%s/%d" % (case["fresh_dir"], i)
            os.makedirs(env["ATS_HOOK_DIR"])
        start = time.perf_counter()
        code = subprocess.run(case["argv"], stdout=null, stderr=null, env=env).returncode
        times[name].append(time.perf_counter() - start)
        if code != 0:
            sys.exit("%s exited %d" % (name, code))
print(json.dumps(times))
"""


def median(xs: list[float]) -> float:
    xs = sorted(xs)
    mid = len(xs) // 2
    return xs[mid] if len(xs) % 2 else (xs[mid - 1] + xs[mid]) / 2


def quartiles(xs: list[float]) -> tuple[float, float]:
    xs = sorted(xs)
    return xs[len(xs) // 4], xs[(3 * len(xs)) // 4]


class Bench:
    def __init__(self, client: docker.DockerClient, workdir: Path, runs: int, hook: Path,
                 baseline_hook: Path | None = None):
        self.client, self.workdir, self.runs = client, workdir, runs
        self.hook, self.baseline_hook = hook, baseline_hook
        (workdir / "driver.py").write_text(DRIVER)

    def container(self, image: str, bundle=None, baseline_bundle=None, **kw):
        volumes = {
            str(self.hook): {"bind": "/usr/local/bin/ats-hook", "mode": "ro"},
            str(self.workdir): {"bind": "/bench", "mode": "ro"},
        }
        if self.baseline_hook:
            volumes[str(self.baseline_hook)] = {"bind": BASELINE_HOOK, "mode": "ro"}
        if bundle:
            volumes[bundle] = {"bind": "/ats", "mode": "ro"}
        if baseline_bundle:
            volumes[baseline_bundle] = {"bind": BASELINE_BUNDLE, "mode": "ro"}
        return self.client.containers.run(
            image,
            ["sleep", "3600"],
            name=f"ats-bench-hook-{uuid.uuid4().hex[:10]}",
            detach=True,
            volumes=volumes,
            **kw,
        )

    def measure(self, container, cases: dict, user="root", runs=None) -> dict[str, list[float]]:
        spec = json.dumps({"runs": runs or self.runs, "cases": cases})
        code, out = container.exec_run(["python3", "/bench/driver.py", spec], user=user)
        if code != 0:
            raise SystemExit(f"bench_hook: timing loop failed: {out.decode()}")
        return json.loads(out.decode().strip().splitlines()[-1])

    def fast_and_alternative(self, bundle, baseline_bundle=None) -> dict[str, list[float]]:
        box = self.container(FAST_IMAGE, bundle=bundle, baseline_bundle=baseline_bundle)
        try:
            # The alternative keeps the roots as local anchors and recompiles at start.
            setup = "cp /usr/share/ca-certificates/mozilla/Amazon_Root_CA_*.crt "
            setup += "/usr/share/ca-certificates/mozilla/Starfield_Services_Root*.crt "
            setup += "/usr/local/share/ca-certificates/"
            code, out = box.exec_run(["sh", "-c", setup])
            if code != 0:
                raise SystemExit(f"bench_hook: setup failed: {out.decode()}")
            cases = {
                "pass": {"argv": ["python3", "-c", "pass"]},
                "pass_isolated": {"argv": ["python3", *ISOLATED, "-c", "pass"]},
                "fast": {"argv": ["python3", *ISOLATED, "/usr/local/bin/ats-hook", "--", "true"]},
                "fast_plain": {"argv": ["python3", "/usr/local/bin/ats-hook", "--", "true"]},
                "bundled_pass": {"argv": BUNDLED_PASS},
                "bundled_fast": {"argv": ["/ats/ats-hook", "--", "true"]},
            }
            if self.baseline_hook:
                cases["baseline_fast"] = {
                    "argv": ["python3", *ISOLATED, BASELINE_HOOK, "--", "true"]}
            if baseline_bundle:
                cases["baseline_bundled_fast"] = {
                    "argv": [BASELINE_BUNDLE + "/ats-hook", "--", "true"]}
            times = self.measure(box, cases)
            # Apart: each update-ca-certificates rewrites the bundle, which would make
            # every start of the hook a first one (its answer is keyed by the bundle).
            update = {"argv": ["sh", "-c", "update-ca-certificates && exec true"]}
            slow_runs = max(5, self.runs // 4)  # seconds each: fewer runs say enough
            times["update_ca"] = self.measure(box, {"update_ca": update}, runs=slow_runs)[
                "update_ca"
            ]
            return times
        finally:
            box.remove(force=True)

    def slow(self) -> tuple[dict[str, list[float]], int]:
        box = self.container(SLOW_IMAGE, user="1000", read_only=True, tmpfs={"/tmp": ""})
        hook = ["python3", *ISOLATED, "/usr/local/bin/ats-hook", "--", "true"]
        cases = {
            "pass": {"argv": ["python3", "-c", "pass"]},
            "slow_first": {"argv": hook, "fresh_dir": "/tmp/fresh"},
            "slow_restart": {"argv": hook, "env": {"ATS_HOOK_DIR": "/tmp/kept"}},
        }
        if self.baseline_hook:
            cases["baseline_slow_first"] = {
                "argv": ["python3", *ISOLATED, BASELINE_HOOK, "--", "true"],
                "fresh_dir": "/tmp/fresh-baseline"}
        try:
            times = self.measure(box, cases, user="1000")
            _, out = box.exec_run(
                ["sh", "-c", "grep -c BEGIN /tmp/kept/ats-hook-1000/ca-bundle.pem"]
            )
            return times, int(out.decode().strip() or 0)
        finally:
            box.remove(force=True)


def report(fast: dict, slow: dict, roots: int, runs: int, bundle_bytes: int,
           hook_image: str = HOOK_IMAGE, baseline: dict | None = None) -> dict:
    m = {k: median(v) * 1000 for k, v in list(fast.items())}
    s = {k: median(v) * 1000 for k, v in list(slow.items())}
    result = {
        "runs": runs,
        "fast": {
            "pass_ms": m["pass"],
            "hook_ms": m["fast"],
            "ratio": m["fast"] / m["pass"],
            "target": TARGETS["fast"],
            # beside it: against a Python started with the same flags, and the
            # hook started without them (`python3 ats-hook`)
            "pass_isolated_ms": m["pass_isolated"],
            "ratio_same_flags": m["fast"] / m["pass_isolated"],
            "plain_ms": m["fast_plain"],
            "plain_ratio": m["fast_plain"] / m["pass"],
        },
        "bundled": {
            "pass_ms": m["bundled_pass"],
            "hook_ms": m["bundled_fast"],
            "ratio": m["bundled_fast"] / m["bundled_pass"],
            "target": TARGETS["bundled"],
            "image": hook_image,
            "image_bytes": bundle_bytes,
        },
        "slow_first": {
            "pass_ms": s["pass"],
            "hook_ms": s["slow_first"],
            "ratio": s["slow_first"] / s["pass"],
            "roots_in_bundle": roots,
            "target": TARGETS["slow_first"],
        },
        "slow_restart": {"hook_ms": s["slow_restart"], "ratio": s["slow_restart"] / s["pass"]},
        "update_ca_certificates": {
            "ms": m["update_ca"],
            "ratio_to_pass": m["update_ca"] / m["pass"],
            "ratio_to_hook_fast": m["update_ca"] / m["fast"],
        },
        "spread_ms": {
            k: [round(q * 1000, 2) for q in quartiles(v)] for k, v in {**fast, **slow}.items()
        },
    }
    if baseline:  # the same measures of the baseline, taken in turn with the above
        result["baseline"] = dict(baseline)
        if "baseline_fast" in m:
            result["baseline"]["fast"] = {"hook_ms": m["baseline_fast"],
                                          "ratio": m["baseline_fast"] / m["pass"]}
        if "baseline_slow_first" in s:
            result["baseline"]["slow_first"] = {"hook_ms": s["baseline_slow_first"],
                                                "ratio": s["baseline_slow_first"] / s["pass"]}
        if "baseline_bundled_fast" in m:
            result["baseline"]["bundled"] = {
                "hook_ms": m["baseline_bundled_fast"],
                "ratio": m["baseline_bundled_fast"] / m["bundled_pass"]}
    return result


def print_table(r: dict) -> None:
    f, s, r2, u = r["fast"], r["slow_first"], r["slow_restart"], r["update_ca_certificates"]
    print(f"ats-hook start-time cost, medians of {r['runs']} runs each (ms)")
    print(f"  python3 -c pass (root, debian)          {f['pass_ms']:8.2f}")
    print(
        f"  fast path: python3 -I -S ats-hook       {f['hook_ms']:8.2f}"
        f"   ratio {f['ratio']:.2f}x (target <= {f['target']}x)"
    )
    print(f"  python3 -I -S -c pass                   {f['pass_isolated_ms']:8.2f}"
          f"   the fast path is {f['ratio_same_flags']:.2f}x this")
    print(f"  fast path: python3 ats-hook (no flags)  {f['plain_ms']:8.2f}"
          f"   ratio {f['plain_ratio']:.2f}x")
    b = r["bundled"]
    print(f"  bundled CPython -c pass (its loader)    {b['pass_ms']:8.2f}")
    print(
        f"  bundled: /ats/ats-hook -- true          {b['hook_ms']:8.2f}"
        f"   ratio {b['ratio']:.2f}x (target <= {b['target']}x); {b['image']}"
        f" {b['image_bytes'] / 1e6:.1f} MB"
    )
    base = r.get("baseline", {})
    if "fast" in base:
        print(f"  baseline fast path ({base['hook']})"[:42].ljust(42)
              + f"{base['fast']['hook_ms']:8.2f}   ratio {base['fast']['ratio']:.2f}x")
    if "bundled" in base:
        print(f"  baseline bundled ({base['image']})"[:42].ljust(42)
              + f"{base['bundled']['hook_ms']:8.2f}   ratio {base['bundled']['ratio']:.2f}x")
    print(f"  python3 -c pass (uid 1000, read-only)   {s['pass_ms']:8.2f}")
    print(
        f"  slow path, first start ({s['roots_in_bundle']} roots)     {s['hook_ms']:8.2f}"
        f"   ratio {s['ratio']:.2f}x (target <= {s['target']}x)"
    )
    if "slow_first" in base:
        print("  baseline slow path, first start".ljust(42)
              + f"{base['slow_first']['hook_ms']:8.2f}   ratio {base['slow_first']['ratio']:.2f}x")
    print(
        f"  slow path, restart (remembered)         {r2['hook_ms']:8.2f}   ratio {r2['ratio']:.2f}x"
    )
    print(
        f"  update-ca-certificates at every start   {u['ms']:8.2f}"
        f"   ratio {u['ratio_to_pass']:.1f}x python3 -c pass,"
        f" {u['ratio_to_hook_fast']:.1f}x the hook's fast path"
    )
    print("  quartiles (ms): " + ", ".join(f"{k} {v[0]}-{v[1]}" for k, v in r["spread_ms"].items()))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=40, help="runs per command (default 40)")
    parser.add_argument("--json", action="store_true", help="print JSON, not a table")
    parser.add_argument("--hook", type=Path, default=HOOK,
                        help=f"the hook to time (default {HOOK})")
    parser.add_argument("--hook-image", default=HOOK_IMAGE,
                        help=f"the bundle to time (default {HOOK_IMAGE})")
    parser.add_argument("--baseline-hook", type=Path, help="a second hook, timed in turn")
    parser.add_argument("--baseline-image", help="a second bundle image, timed in turn")
    args = parser.parse_args(argv)
    for path in filter(None, (args.hook, args.baseline_hook)):
        if not path.is_file():
            print(f"bench_hook: {path}: no such file", file=sys.stderr)
            return 2
    client = docker.from_env()
    images = (FAST_IMAGE, SLOW_IMAGE, args.hook_image) + (
        (args.baseline_image,) if args.baseline_image else ())
    for image in images:
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"bench_hook: {image} missing; run make images", file=sys.stderr)
            return 2
    volumes = []
    try:
        for image in (args.hook_image, args.baseline_image):
            if not image:
                volumes.append(None)
                continue
            volumes.append(f"ats-bench-hook-{uuid.uuid4().hex[:10]}")
            client.volumes.create(volumes[-1])  # filled from the image when first mounted
            client.containers.create(image, ["--version"],
                                     volumes={volumes[-1]: {"bind": "/ats", "mode": "rw"}}).remove()
        with tempfile.TemporaryDirectory(prefix="ats-bench-hook-") as tmp:
            os.chmod(tmp, 0o755)  # the timing loop runs as uid 1000 too
            bench = Bench(client, Path(tmp), args.runs, args.hook.resolve(),
                          args.baseline_hook and args.baseline_hook.resolve())
            fast = bench.fast_and_alternative(*volumes)
            slow, roots = bench.slow()
    finally:
        for volume in filter(None, volumes):
            client.volumes.get(volume).remove(force=True)
    size = client.images.get(args.hook_image).attrs["Size"]
    baseline = None
    if args.baseline_hook or args.baseline_image:
        baseline = {"hook": str(args.baseline_hook), "image": args.baseline_image}
    result = report(fast, slow, roots, args.runs, size, args.hook_image, baseline)
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            print_table(result)  # people read the table, scripts/bench reads the JSON
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

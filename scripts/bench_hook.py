#!/usr/bin/env python3
"""Time the start-time hook against a bare Python start, in one run; nothing asserted.

Every number is measured inside one running container per case (a timing
loop started with `docker exec`), so Docker's own overhead stays out of it;
the commands of a case take turns, run after run, so that a busy machine
slows them alike. Medians of --runs runs each.

  fast path     ats-local/debian:bookworm as root: the store trusts the roots and
                the answer is remembered: `python3 ats-hook -- true` vs `python3 -c pass`
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

    scripts/bench_hook.py [--runs N] [--json]
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
    def __init__(self, client: docker.DockerClient, workdir: Path, runs: int):
        self.client, self.workdir, self.runs = client, workdir, runs
        (workdir / "driver.py").write_text(DRIVER)

    def container(self, image: str, bundle=None, **kw):
        volumes = {
            str(HOOK): {"bind": "/usr/local/bin/ats-hook", "mode": "ro"},
            str(self.workdir): {"bind": "/bench", "mode": "ro"},
        }
        if bundle:
            volumes[bundle] = {"bind": "/ats", "mode": "ro"}
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

    def fast_and_alternative(self, bundle) -> dict[str, list[float]]:
        box = self.container(FAST_IMAGE, bundle=bundle)
        try:
            # The alternative keeps the roots as local anchors and recompiles at start.
            setup = "cp /usr/share/ca-certificates/mozilla/Amazon_Root_CA_*.crt "
            setup += "/usr/share/ca-certificates/mozilla/Starfield_Services_Root*.crt "
            setup += "/usr/local/share/ca-certificates/"
            code, out = box.exec_run(["sh", "-c", setup])
            if code != 0:
                raise SystemExit(f"bench_hook: setup failed: {out.decode()}")
            python = {"pass": {"argv": ["python3", "-c", "pass"]}}
            times = self.measure(
                box,
                {
                    **python,
                    "fast": {"argv": ["python3", "/usr/local/bin/ats-hook", "--", "true"]},
                    "bundled_pass": {"argv": BUNDLED_PASS},
                    "bundled_fast": {"argv": ["/ats/ats-hook", "--", "true"]},
                },
            )
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
        hook = ["python3", "/usr/local/bin/ats-hook", "--", "true"]
        try:
            times = self.measure(
                box,
                {
                    "pass": {"argv": ["python3", "-c", "pass"]},
                    "slow_first": {"argv": hook, "fresh_dir": "/tmp/fresh"},
                    "slow_restart": {"argv": hook, "env": {"ATS_HOOK_DIR": "/tmp/kept"}},
                },
                user="1000",
            )
            _, out = box.exec_run(
                ["sh", "-c", "grep -c BEGIN /tmp/kept/ats-hook-1000/ca-bundle.pem"]
            )
            return times, int(out.decode().strip() or 0)
        finally:
            box.remove(force=True)


def report(fast: dict, slow: dict, roots: int, runs: int, bundle_bytes: int) -> dict:
    m = {k: median(v) * 1000 for k, v in list(fast.items())}
    s = {k: median(v) * 1000 for k, v in list(slow.items())}
    result = {
        "runs": runs,
        "fast": {
            "pass_ms": m["pass"],
            "hook_ms": m["fast"],
            "ratio": m["fast"] / m["pass"],
            "target": TARGETS["fast"],
        },
        "bundled": {
            "pass_ms": m["bundled_pass"],
            "hook_ms": m["bundled_fast"],
            "ratio": m["bundled_fast"] / m["bundled_pass"],
            "target": TARGETS["bundled"],
            "image": HOOK_IMAGE,
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
    return result


def print_table(r: dict) -> None:
    f, s, r2, u = r["fast"], r["slow_first"], r["slow_restart"], r["update_ca_certificates"]
    print(f"ats-hook start-time cost, medians of {r['runs']} runs each (ms)")
    print(f"  python3 -c pass (root, debian)          {f['pass_ms']:8.2f}")
    print(
        f"  fast path: ats-hook -- true             {f['hook_ms']:8.2f}"
        f"   ratio {f['ratio']:.2f}x (target <= {f['target']}x)"
    )
    b = r["bundled"]
    print(f"  bundled CPython -c pass (its loader)    {b['pass_ms']:8.2f}")
    print(
        f"  bundled: /ats/ats-hook -- true          {b['hook_ms']:8.2f}"
        f"   ratio {b['ratio']:.2f}x (target <= {b['target']}x); {b['image']}"
        f" {b['image_bytes'] / 1e6:.1f} MB"
    )
    print(f"  python3 -c pass (uid 1000, read-only)   {s['pass_ms']:8.2f}")
    print(
        f"  slow path, first start ({s['roots_in_bundle']} roots)     {s['hook_ms']:8.2f}"
        f"   ratio {s['ratio']:.2f}x (target <= {s['target']}x)"
    )
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
    args = parser.parse_args(argv)
    client = docker.from_env()
    for image in (FAST_IMAGE, SLOW_IMAGE, HOOK_IMAGE):
        try:
            client.images.get(image)
        except docker.errors.ImageNotFound:
            print(f"bench_hook: {image} missing; run make images", file=sys.stderr)
            return 2
    bundle = f"ats-bench-hook-{uuid.uuid4().hex[:10]}"
    client.volumes.create(bundle)  # filled from the image when first mounted over /ats
    client.containers.create(HOOK_IMAGE, ["--version"],
                             volumes={bundle: {"bind": "/ats", "mode": "rw"}}).remove()
    try:
        with tempfile.TemporaryDirectory(prefix="ats-bench-hook-") as tmp:
            os.chmod(tmp, 0o755)  # the timing loop runs as uid 1000 too
            bench = Bench(client, Path(tmp), args.runs)
            fast = bench.fast_and_alternative(bundle)
            slow, roots = bench.slow()
    finally:
        client.volumes.get(bundle).remove(force=True)
    size = client.images.get(HOOK_IMAGE).attrs["Size"]
    result = report(fast, slow, roots, args.runs, size)
    if args.json:
        with contextlib.redirect_stdout(sys.stderr):
            print_table(result)  # people read the table, scripts/bench reads the JSON
        print(json.dumps(result, indent=2))
    else:
        print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The `ats` command: argument parsing and output only; the work is elsewhere."""

from __future__ import annotations

import argparse
import json
import sys

from ats_roots import __version__, errors
from ats_roots.errors import AtsError
from ats_roots.system import view as store_view
from ats_roots.trust import chain


def _root_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--root", default="/", metavar="DIR", help="a root file system (default /)")
    p.add_argument("--family", help="skip detection: debian, rhel, alpine, suse, arch, notool")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ats", description=__doc__)
    parser.add_argument("--version", action="version", version=f"ats-roots {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("roots", help="list the pinned Amazon Trust Services roots")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("fetch-roots", help="download the roots, accepting only pinned ones")
    p.add_argument("--dest", default=".", metavar="DIR")
    p.add_argument("--base-url", default=None, help="a mirror of the ATS repository")
    p.add_argument("--ca-bundle", default=None, help="CA bundle for the download's TLS")

    p = sub.add_parser("install", help="add the roots to a trust store the distro's way")
    _root_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--extra-ca", action="append", default=[], metavar="FILE")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("verify", help="report, per root, trusted or missing")
    _root_arg(p)
    p.add_argument("--bundle", metavar="FILE", help="check this bundle instead of a system")
    p.add_argument("--chain", metavar="FILE", help="a recorded chain, leaf first")
    p.add_argument("--at", metavar="TIME", help="validation time (ISO 8601 or unix)")
    p.add_argument("--host", metavar="NAME", help="name the leaf must match")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("uninstall", help="remove only what `ats install` added")
    _root_arg(p)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("probe", help="TLS handshakes to real service endpoints")
    p.add_argument("service", choices=["ses"])
    p.add_argument("--region", default="us-east-1")
    p.add_argument(
        "--ports",
        default=None,
        metavar="LIST",
        help="comma-separated SES ports, default 25,587,2587,465,2465,443; "
        "PORT=LOCAL speaks PORT's protocol to port LOCAL (a stand-in on high ports)",
    )
    p.add_argument("--cafile", default=None, help="trust this bundle, not the system's")
    p.add_argument(
        "--resolve",
        action="append",
        default=[],
        metavar="NAME:ADDR",
        help="connect to ADDR for host NAME, still checking NAME (repeatable)",
    )
    p.add_argument("--timeout", type=float, default=10.0)
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("audit", help="every trust store in an image or a root, and its ATS roots")
    p.add_argument("image", nargs="?", help="a local image: exported, never pulled or started")
    p.add_argument("--root", metavar="DIR", help="an unpacked root file system instead")
    p.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="WHAT",
        help="exit 1 if audit finds WHAT: missing, pinned, old-sdk (repeatable, "
        "or comma-separated)",
    )
    p.add_argument("--storepass", default="changeit", help="Java key store password")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("patch", help="a new image trusting the roots, built from outside")
    p.add_argument("image", help="the image to patch (left unchanged)")
    p.add_argument("--tag", required=True, metavar="NEW", help="name for the patched image")
    p.add_argument("--extra-ca", action="append", default=[], metavar="FILE")
    p.add_argument("--storepass", default="changeit", help="Java key store password")
    p.add_argument(
        "--no-tool",
        action="store_true",
        help="write bundle and hash links directly, even where the image has its CA tool",
    )
    p.add_argument("--json", action="store_true")
    return parser


def cmd_roots(args) -> int:
    from ats_roots.trust.roots import load_roots

    rows = [r.summary() for r in load_roots()]
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            print(
                f"{r['name']}\n  subject   {r['subject']}\n  sha256    {r['sha256']}"
                f"\n  not after {r['not_after']}"
            )
    return errors.OK


def cmd_fetch_roots(args) -> int:
    from ats_roots.trust.fetch import REPOSITORY, fetch_roots

    got = fetch_roots(args.dest, args.base_url or REPOSITORY, args.ca_bundle)
    for root in got:
        print(f"ok {root.filename} {root.name}")
    return errors.OK


def _target(args):
    from ats_roots.system.target import Target

    return Target(args.root)


def cmd_install(args) -> int:
    from ats_roots.system.install import install

    result = install(_target(args), args.family, args.extra_ca, args.dry_run)
    plan = result["plan"]
    if args.json:
        print(
            json.dumps(
                {**plan.to_json(), "dry_run": args.dry_run, "missing": result["missing"]}, indent=2
            )
        )
    else:
        print("\n".join(plan.lines()))
    if result["missing"]:
        print(
            "ats: error: still not trusted after install: " + ", ".join(result["missing"]),
            file=sys.stderr,
        )
        return errors.VERIFY_FAILED
    return errors.OK


def cmd_uninstall(args) -> int:
    from ats_roots.system.install import uninstall

    plan = uninstall(_target(args), args.family)["plan"]
    print(json.dumps(plan.to_json(), indent=2) if args.json else "\n".join(plan.lines()))
    return errors.OK


def cmd_verify(args) -> int:
    from ats_roots.system.install import view

    store = (
        store_view.view_bundle(args.bundle) if args.bundle else view(_target(args), args.family)
    )
    if args.bundle and not store.locations:
        raise errors.BadInput(f"{args.bundle}: cannot read")
    report = {"roots": store_view.root_report(store)}
    ok = all(r["trusted"] for r in report["roots"])
    if args.chain:
        when = chain.parse_time(args.at) if args.at else None
        from ats_roots.trust.roots import now

        certs = chain.load_chain(args.chain)
        trusted = [store.der_by_sha[s] for s in store.trusted() if s in store.der_by_sha]
        report["chain"] = chain.verify_chain(certs, trusted, when or now(), args.host)
        ok = ok and report["chain"]["ok"]
    report["ok"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        _print_verify(report)
    if not ok:
        roots_ok = all(r["trusted"] for r in report["roots"])
        what = "the chain does not validate" if roots_ok else (
            "roots missing; run `ats install`")
        print(f"ats: error: verification failed: {what} (see above)", file=sys.stderr)
    return errors.OK if ok else errors.VERIFY_FAILED


def _print_verify(report: dict) -> None:
    for r in report["roots"]:
        state = "trusted" if r["trusted"] else "MISSING"
        where = f"  ({', '.join(r['where'])})" if r["where"] else ""
        print(f"{state:8} {r['name']}{where}")
    c = report.get("chain")
    if c and c["ok"]:
        print(f"chain ok for {c['host']}: " + " <- ".join(c["path"]))
    elif c:
        print(f"chain FAILED for {c['host']}: {c['error']}")


def cmd_probe(args) -> int:
    from ats_roots.tls import probe

    return probe.run_cli(args)


def cmd_audit(args) -> int:
    from ats_roots import audit

    fail_on = _fail_on(args.fail_on, audit.FAIL_ON)
    if bool(args.image) == bool(args.root):
        raise errors.BadInput("give one of IMAGE or --root DIR")
    if args.root:
        report = audit.audit_root(args.root, args.storepass)
    else:
        report = audit.audit_image(audit.docker_client(), args.image, args.storepass)
    doc = audit.to_json(report, fail_on)
    print(json.dumps(doc, indent=2) if args.json else "\n".join(audit.table(report)))
    if doc["failed"]:
        found = "; ".join(f"{k}: {', '.join(v)}" for k, v in doc["fail_on"].items() if v)
        print(
            f"ats: error: found {found} (fix with `ats patch`, or update what is named; "
            "mail-server settings are fixed in their config file)",
            file=sys.stderr,
        )
        return errors.VERIFY_FAILED
    return errors.OK


def _fail_on(values: list[str], known: tuple[str, ...]) -> list[str]:
    wanted = [v.strip() for value in values for v in value.split(",") if v.strip()]
    for v in wanted:
        if v not in known:
            raise errors.BadInput(f"--fail-on {v}: choose from {', '.join(known)}")
    return list(dict.fromkeys(wanted))


def cmd_patch(args) -> int:
    from ats_roots.patch import build as patch

    result = patch.patch(args.image, args.tag, args.extra_ca, args.storepass, args.no_tool)
    print(json.dumps(result.to_json(), indent=2) if args.json else "\n".join(result.lines()))
    if not result.tagged:
        print(f"ats: error: {result.refused}; {args.tag} was not tagged", file=sys.stderr)
        return errors.VERIFY_FAILED
    return errors.OK


COMMANDS = {
    "roots": cmd_roots,
    "fetch-roots": cmd_fetch_roots,
    "install": cmd_install,
    "verify": cmd_verify,
    "uninstall": cmd_uninstall,
    "probe": cmd_probe,
    "audit": cmd_audit,
    "patch": cmd_patch,
}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except AtsError as exc:
        print(f"ats: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

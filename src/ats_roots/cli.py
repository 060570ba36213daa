"""The `ats` command: parse the arguments, call one function, print its Outcome.

Every command's work lives in its package and is imported only when that
command runs, so `ats --version` or `ats verify` never load what they do not
use (docker, requests, the audit).
"""

from __future__ import annotations

import os
import sys

from ats_roots import __version__
from ats_roots.errors import ENV_REFUSES, AtsError

DESCRIPTION = """\
Make this system, a root file system or a container image trust the Amazon
Trust Services roots (Amazon Root CA 1-4, Starfield Services Root CA - G2),
and prove it: TLS to Amazon SES verifies.

  ats verify                 is this system's OpenSSL trusting the roots?
  ats install                add them the distribution's own way
  ats audit IMAGE            every trust store in an image, and what it lacks
  ats patch IMAGE --tag NEW  the same image, one layer more, trusting them
  ats probe ses              TLS to every SES port, with the anchor reached
"""
EPILOG = """\
exit codes: 0 ok, 1 verification failed, 2 bad usage or input,
3 the environment refuses (not root, read-only, no network).
Every non-zero exit prints one line saying what to do."""


def _root_arg(p) -> None:
    p.add_argument("--root", default="/", metavar="DIR", help="a root file system (default /)")
    p.add_argument("--family", help="skip detection: debian, rhel, alpine, suse, arch, notool")


def _json_arg(p) -> None:
    p.add_argument("--json", action="store_true", help="print the report as JSON")


def _warn_days_arg(p) -> None:
    p.add_argument(
        "--warn-days",
        type=int,
        default=365,
        metavar="N",
        help="warn when a root that a store or chain depends on expires or loses TLS "
        "trust (Mozilla's schedule) within N days (default 365)",
    )


def _roots(p) -> None:
    _json_arg(p)


def _fetch_roots(p) -> None:
    p.add_argument("--dest", default=".", metavar="DIR")
    p.add_argument("--base-url", default=None, help="a mirror of the ATS repository")
    p.add_argument("--ca-bundle", default=None, help="CA bundle for the download's TLS")


def _install(p) -> None:
    _root_arg(p)
    p.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    p.add_argument("--extra-ca", action="append", default=[], metavar="FILE")
    _json_arg(p)


def _verify(p) -> None:
    _root_arg(p)
    p.add_argument("--bundle", metavar="FILE", help="check this bundle instead of a system")
    p.add_argument("--chain", metavar="FILE", help="a recorded chain, leaf first")
    p.add_argument("--at", metavar="TIME", help="validation time (ISO 8601 or unix)")
    p.add_argument("--host", metavar="NAME", help="name the leaf must match")
    _warn_days_arg(p)
    _json_arg(p)


def _uninstall(p) -> None:
    _root_arg(p)
    _json_arg(p)


def _probe(p) -> None:
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
    _warn_days_arg(p)
    _json_arg(p)


def _audit(p) -> None:
    p.add_argument("image", nargs="?", help="a local image: exported, never pulled or started")
    p.add_argument("--root", metavar="DIR", help="an unpacked root file system instead")
    p.add_argument(
        "--fail-on",
        action="append",
        default=[],
        metavar="WHAT",
        help="exit 1 if audit finds WHAT: missing, pinned, old-sdk, expiring (repeatable, "
        "or comma-separated)",
    )
    p.add_argument("--storepass", default="changeit", help="Java key store password")
    _warn_days_arg(p)
    _json_arg(p)


def _patch(p) -> None:
    p.add_argument("image", help="the image to patch (left unchanged)")
    p.add_argument("--tag", required=True, metavar="NEW", help="name for the patched image")
    p.add_argument("--extra-ca", action="append", default=[], metavar="FILE")
    p.add_argument("--storepass", default="changeit", help="Java key store password")
    p.add_argument(
        "--no-tool",
        action="store_true",
        help="write bundle and hash links directly, even where the image has its CA tool",
    )
    _json_arg(p)


def _hook(p) -> None:
    p.add_argument("--write", required=True, metavar="DIR", help="write DIR/ats-hook (0755)")
    _json_arg(p)


# name, the line `ats --help` shows, its arguments
SUBCOMMANDS = (
    ("roots", "list the pinned Amazon Trust Services roots", _roots),
    ("fetch-roots", "download the roots, accepting only pinned ones", _fetch_roots),
    ("install", "add the roots to a trust store the distro's way", _install),
    ("verify", "report, per root, trusted or missing", _verify),
    ("uninstall", "remove only what `ats install` added", _uninstall),
    ("probe", "TLS handshakes to real service endpoints", _probe),
    ("audit", "every trust store in an image or a root, and its ATS roots", _audit),
    ("patch", "a new image trusting the roots, built from outside", _patch),
    ("hook", "the start-time hook for images with python3 (hooks/README.md)", _hook),
)


def build_parser(command: str | None = None):
    """The whole parser, or (command given) the top level with only that
    command's sub-parser: building all nine is half of argparse's cost in a
    start, and a command's parsing and errors need no other."""
    import argparse  # here: `ats --version` needs no parser
    from functools import partial

    # argparse makes a help formatter at every add_argument, and without a
    # width the first one imports shutil (with bz2 and lzma) only to ask the
    # terminal's: 3 ms of every start. The width is found here, as shutil would.
    width = _terminal_width() - 2
    parser = argparse.ArgumentParser(
        prog="ats",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=partial(argparse.RawDescriptionHelpFormatter, width=width),
    )
    parser.add_argument("--version", action="version", version=f"ats-roots {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_line, add_arguments in SUBCOMMANDS:
        if command in (None, name):
            formatter = partial(argparse.HelpFormatter, width=width)
            add_arguments(sub.add_parser(name, help=help_line, formatter_class=formatter))
    return parser


def _terminal_width() -> int:
    """shutil.get_terminal_size()'s answer: $COLUMNS, else the terminal's, else 80."""
    try:
        columns = int(os.environ.get("COLUMNS", "0"))
    except ValueError:
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns
        except (AttributeError, ValueError, OSError):
            columns = 0
    return columns or 80


def cmd_roots(args):
    from ats_roots.trust.roots import roots_outcome

    return roots_outcome()


def cmd_fetch_roots(args):
    from ats_roots.trust.fetch import fetch_outcome

    return fetch_outcome(args.dest, args.base_url, args.ca_bundle)


def cmd_install(args):
    from ats_roots.system.install import install_outcome

    return install_outcome(args.root, args.family, args.extra_ca, args.dry_run)


def cmd_uninstall(args):
    from ats_roots.system.install import uninstall_outcome

    return uninstall_outcome(args.root, args.family)


def cmd_verify(args):
    from ats_roots.system.verify import verify

    return verify(
        args.root, args.family, args.bundle, args.chain, args.at, args.host, args.warn_days
    )


def cmd_probe(args):
    from ats_roots.tls.probe import probe

    return probe(
        args.service,
        args.region,
        args.ports,
        args.cafile,
        args.timeout,
        args.resolve,
        args.warn_days,
    )


def cmd_audit(args):
    from ats_roots.audit import audit

    return audit(args.image, args.root, args.fail_on, args.storepass, args.warn_days)


def cmd_patch(args):
    from ats_roots.patch import patch

    return patch(args.image, args.tag, args.extra_ca, args.storepass, args.no_tool)


def cmd_hook(args):
    from ats_roots.hook import write_hook

    return write_hook(args.write)


COMMANDS = {
    "roots": cmd_roots,
    "fetch-roots": cmd_fetch_roots,
    "install": cmd_install,
    "verify": cmd_verify,
    "uninstall": cmd_uninstall,
    "probe": cmd_probe,
    "audit": cmd_audit,
    "patch": cmd_patch,
    "hook": cmd_hook,
}


PYTHON_FLOOR = (3, 9)  # = requires-python in pyproject.toml; tests/test_python_floor.py


def main(argv=None) -> int:
    if sys.version_info < PYTHON_FLOOR:
        print(
            f"ats: error: Python {sys.version_info[0]}.{sys.version_info[1]} is too old; "
            "ats-roots needs 3.9 or later (the start-time hook runs on 3.6+)",
            file=sys.stderr,
        )
        return ENV_REFUSES
    if (sys.argv[1:] if argv is None else list(argv)) == ["--version"]:
        print(f"ats-roots {__version__}")  # the parser would say the same, later
        return 0
    given = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(given[0] if given[:1] and given[0] in COMMANDS else None).parse_args(argv)
    try:
        outcome = COMMANDS[args.command](args)
    except AtsError as exc:
        print(f"ats: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    try:
        if getattr(args, "json", False):
            import json

            print(json.dumps(outcome.doc, indent=2))
        elif outcome.lines:
            print("\n".join(outcome.lines))
        sys.stdout.flush()
    except BrokenPipeError:  # `ats ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if outcome.error:
        print(f"ats: error: {outcome.error}", file=sys.stderr)
    return outcome.code


if __name__ == "__main__":
    sys.exit(main())

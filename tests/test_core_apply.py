"""The executor: paths are the target's, whatever its symlinks say."""

from __future__ import annotations

from helpers import synthetic_root

from ats_roots.system.plan import Link, Plan, Write, apply
from ats_roots.system.target import Target


def test_absolute_symlinks_in_an_image_never_lead_outside_it(tmp_path):
    """An image whose /usr/local is an absolute link: inside the image it
    means the image's own directory, never the host's one of that name."""
    outside = tmp_path / "host-dir"
    outside.mkdir()
    root = synthetic_root(tmp_path / "root", "ID=debian\n")
    (root / "usr").mkdir()
    (root / "usr/local").symlink_to(outside)  # absolute: a host path, read in the image
    (root / "etc/ssl/certs").mkdir(parents=True)
    (root / "etc/ssl/cert.pem").symlink_to("/etc/ssl/certs/bundle.pem")
    plan = Plan(
        "test",
        Target(str(root)),
        writes=[
            Write("/usr/local/share/ca-certificates/x.crt", b"anchor\n", "test"),
            Write("/etc/ssl/cert.pem", b"bundle\n", "test"),
        ],
        links=[Link("/usr/local/share/ca-certificates/y.crt", "x.crt", "test")],
    )
    apply(plan)
    assert list(outside.iterdir()) == []
    inside = root / str(outside).lstrip("/") / "share/ca-certificates"
    assert (inside / "x.crt").read_bytes() == b"anchor\n"
    assert (inside / "y.crt").is_symlink()
    # A write through a link replaces what the link points at, inside the root.
    assert (root / "etc/ssl/cert.pem").is_symlink()
    assert (root / "etc/ssl/certs/bundle.pem").read_bytes() == b"bundle\n"

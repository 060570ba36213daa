"""Make Linux containers trust the Amazon Trust Services roots, and prove it.

Public API: the pinned roots and the exit codes; everything else is private
to the `ats` command and may change. Names are loaded on first use, so that
importing the package (and `ats --version`) costs almost nothing.
"""

__version__ = "0.1.0"
__all__ = ["PINS", "Root", "load_roots", "AtsError", "__version__"]


def __getattr__(name):
    if name in ("PINS", "Root", "load_roots"):
        from ats_roots.trust import roots

        return getattr(roots, name)
    if name == "AtsError":
        from ats_roots.errors import AtsError

        return AtsError
    raise AttributeError(f"module 'ats_roots' has no attribute {name!r}")

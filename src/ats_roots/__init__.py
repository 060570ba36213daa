"""Make Linux containers trust the Amazon Trust Services roots, and prove it.

Public API: the pinned roots and the exit codes; everything else is private
to the `ats` command and may change.
"""

from ats_roots.errors import AtsError
from ats_roots.trust.roots import PINS, Root, load_roots

__version__ = "0.1.0"
__all__ = ["PINS", "Root", "load_roots", "AtsError", "__version__"]

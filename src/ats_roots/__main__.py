import sys

from ats_roots.cli import main

sys.exit(main())

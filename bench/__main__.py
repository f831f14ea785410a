"""`python -m bench`: see bench/run.py."""

import sys

from bench.snapshot import reexec_if_asked

reexec_if_asked(sys.argv[1:])  # before any import of `service` (see bench/snapshot.py)

from bench.run import main  # noqa: E402

sys.exit(main())

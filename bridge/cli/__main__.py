"""``python -m musicgen_bridge.bridge.cli``: the same entry point as the ``musicgen-bridge`` script."""

import sys

from . import main

sys.exit(main())

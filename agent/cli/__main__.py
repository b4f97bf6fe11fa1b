"""``python -m pi_edge.agent.cli``: the ``pi-edge`` command without its script."""

import sys

from pi_edge.agent.cli.main import main

sys.exit(main())

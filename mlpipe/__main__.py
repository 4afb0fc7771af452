"""``python -m mlpipe``: what the Snakemake rules call, so conda environments need no install."""

import sys

from mlpipe.cli import main

sys.exit(main())

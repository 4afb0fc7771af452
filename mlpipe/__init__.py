"""mlpipe: galaxy mass-to-light ratios from g-band morphology (Dobbels et al. 2019), as a workflow."""

__version__ = "0.1.0"

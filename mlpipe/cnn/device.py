"""Pick the compute device: the CUDA device the job was given (Snakemake sets no
CUDA_VISIBLE_DEVICES; the scheduler or the user does), else the CPU."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        log.info("using %s (%s)", device, torch.cuda.get_device_name(device))
    else:
        log.info("using the CPU with %d threads", torch.get_num_threads())
    return device

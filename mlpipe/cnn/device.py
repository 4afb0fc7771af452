"""Pick the compute device: the CUDA device the job was given (Snakemake sets no
CUDA_VISIBLE_DEVICES; the scheduler or the user does), else the CPU."""

from __future__ import annotations

import logging

import torch

log = logging.getLogger(__name__)


def set_cpu_threads(threads: int | None) -> None:
    """Fix torch's CPU thread count when one is given, so that a step's results depend on its
    command line alone: the CPU kernels sum in another order with another count, which moves a
    CNN output by a float32 ulp or two."""
    if threads is not None:
        torch.set_num_threads(threads)


def pick_device(requested: str = "auto") -> torch.device:
    if requested == "auto":
        requested = "cuda" if torch.cuda.is_available() else "cpu"
    device = torch.device(requested)
    if device.type == "cuda":
        log.info("using %s (%s)", device, torch.cuda.get_device_name(device))
    else:
        log.info("using the CPU with %d threads", torch.get_num_threads())
    return device


#: ``cnn.precision`` (the schema's enum; a test keeps them equal): ``auto`` computes in bfloat16
#: (autocast: bfloat16 matrix products and convolutions, float32 weights, optimiser and loss) where
#: the device has bfloat16 arithmetic units, in float32 elsewhere
PRECISIONS = ("auto", "float32", "bfloat16")


def native_bfloat16(device: torch.device) -> bool:
    """Whether ``device`` computes bfloat16 in hardware: a CUDA device that supports it, or a CPU
    with AMX tiles or AVX512-BF16 (elsewhere torch emulates bfloat16, slower than float32)."""
    if device.type == "cuda":
        return bool(torch.cuda.is_bf16_supported())
    if device.type == "cpu":
        checks = ("_is_amx_tile_supported", "_is_avx512_bf16_supported")
        return any(bool(getattr(torch.cpu, check, lambda: False)()) for check in checks)
    return False


def arithmetic(precision: str, device: torch.device) -> str:
    """What the networks compute in on ``device`` for ``cnn.precision``: ``bfloat16`` (autocast)
    or ``float32``."""
    if precision not in PRECISIONS:
        raise ValueError(f"cnn.precision: {precision!r} is none of {', '.join(PRECISIONS)}")
    if precision == "auto":
        return "bfloat16" if native_bfloat16(device) else "float32"
    return precision


def autocast(arithmetic_name: str, device: torch.device) -> torch.autocast:
    """The autocast context for ``arithmetic_name`` (what :func:`arithmetic` returns): bfloat16
    autocast, or none (float32)."""
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=arithmetic_name == "bfloat16")


def compiled(function, mode: str, device: torch.device):
    """``function`` through torch.compile in ``mode`` (``cnn.compile`` in the config schema;
    reduce-overhead: CUDA graphs) on CUDA; unchanged for ``none`` and on the CPU, whose results stay
    bit-for-bit reproducible."""
    if mode == "none":
        return function
    if device.type != "cuda":
        log.info("cnn.compile: %s applies on CUDA only; running uncompiled on %s", mode, device)
        return function
    log.info("torch.compile mode %s", mode)
    return torch.compile(function, mode=mode)

"""Atomic writes: an output either exists complete or not at all, so an interrupted job resumes."""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
from pathlib import Path
from typing import Iterator

import pandas as pd


def _create_temporary(folder: Path, prefix: str, suffix: str) -> Path:
    """A new empty file in ``folder`` with the mode an ordinary ``open`` gives (0666 less the
    umask), unlike ``tempfile.mkstemp``'s 0600: collaborators on a shared file system read results."""
    for _ in range(100):
        path = folder / f"{prefix}{secrets.token_hex(4)}{suffix}"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        return path
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", str(folder))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it into place only if the block succeeds.
    An OSError without a file name (a full disk while writing) is raised again naming ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    for stale in target.parent.glob(f".{target.name}.*"):  # left by a killed run of the same step
        stale.unlink(missing_ok=True)
    tmp_path = _create_temporary(target.parent, f".{target.name}.", suffix or ".part")
    try:
        try:
            yield tmp_path
        except OSError as err:
            if err.filename is None and err.errno is not None:
                raise OSError(err.errno, err.strerror or str(err), str(target)) from err
            raise
        tmp_path.replace(target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_csv(df: pd.DataFrame, path: str | os.PathLike, **kwargs) -> None:
    """Write a CSV atomically."""
    with atomic_path(path, ".csv") as tmp:
        df.to_csv(tmp, index=False, **kwargs)

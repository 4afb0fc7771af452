"""Content hashes (SHA-256) of the files exchanged between stages, checked by every reader.

HDF5 stores carry one digest per dataset and one of all attributes in the root attribute
``content_sha256`` (JSON); a reader verifies the datasets it reads, so a flipped byte or a
truncated file stops the step with the file's name instead of feeding it wrong numbers.
Torch files (``model.pt``, checkpoints) carry ``content_sha256``: the digest of every other
entry (tensors by dtype, shape and bytes), and are loaded with ``weights_only=True`` (tensors and
plain types; a pickle that would run code is refused).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mlpipe.io.atomic import atomic_path
from mlpipe.io.validation import InputError

log = logging.getLogger(__name__)

HASH_ATTR = "content_sha256"
CHUNK_BYTES = 64 * 2**20   # datasets are hashed in slabs of about this size
_ATTRS = "@attrs"


class IntegrityError(InputError):
    """A file whose content differs from the digest recorded when it was written."""


def _header(ds: h5py.Dataset) -> bytes:
    """What a dataset's digest starts with: its dtype and shape."""
    return f"{ds.dtype.str if ds.dtype.kind != 'O' else 'vlen-str'}{ds.shape}".encode()


def _dataset_differs(path: str | Path, name: str) -> IntegrityError:
    return IntegrityError(f"{path}: corrupt store: dataset '{name}' differs from what was "
                          "written (a changed or truncated file; rerun the step that wrote it)")


def _update_with_dataset(digest: hashlib._Hash, ds: h5py.Dataset) -> None:
    digest.update(_header(ds))
    if ds.shape is None or ds.size == 0:
        return
    if ds.ndim == 0:
        value = ds[()]
        digest.update(value if isinstance(value, bytes) else np.asarray(value).tobytes())
        return
    row_bytes = max(ds.dtype.itemsize * int(np.prod(ds.shape[1:], dtype=np.int64)), 1)
    step = max(1, CHUNK_BYTES // row_bytes)
    for start in range(0, ds.shape[0], step):
        block = ds[start:start + step]
        if ds.dtype.kind == "O":  # variable-length strings: each with its length
            for item in block.reshape(-1):
                item = item if isinstance(item, bytes) else str(item).encode()
                digest.update(len(item).to_bytes(8, "little") + item)
        else:
            digest.update(np.ascontiguousarray(block).data)


def dataset_digest(ds: h5py.Dataset) -> str:
    """SHA-256 of a dataset's dtype, shape and values, read in slabs of ~CHUNK_BYTES."""
    digest = hashlib.sha256()
    _update_with_dataset(digest, ds)
    return digest.hexdigest()


def _attrs_digest(fh: h5py.File) -> str:
    items: list[tuple[str, str, Any]] = []

    def collect(name: str, obj: Any) -> None:
        for key in sorted(obj.attrs):
            if name == "/" and key == HASH_ATTR:
                continue
            value = obj.attrs[key]
            value = value.decode() if isinstance(value, bytes) else np.asarray(value).tolist()
            items.append((name, key, value))

    collect("/", fh)
    fh.visititems(lambda name, obj: collect(name, obj))
    return hashlib.sha256(json.dumps(items, sort_keys=True, default=str).encode()).hexdigest()


def _datasets(fh: h5py.File) -> list[str]:
    names: list[str] = []
    fh.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    return sorted(names)


def seal_store(fh: h5py.File) -> None:
    """Record the digests of every dataset and of the attributes of a store being written."""
    digests = {name: dataset_digest(fh[name]) for name in _datasets(fh)}
    digests[_ATTRS] = _attrs_digest(fh)
    fh.attrs[HASH_ATTR] = json.dumps(digests, sort_keys=True)


def verify_store(fh: h5py.File, path: str | Path, datasets: Iterable[str] | None = None) -> None:
    """Check the attributes and ``datasets`` (every dataset of a group named; all when None)
    against the recorded digests; raise IntegrityError naming ``path`` on a difference."""
    if HASH_ATTR not in fh.attrs:
        log.warning("%s has no content hash (written by an older mlpipe): not verified", path)
        return
    recorded = json.loads(fh.attrs[HASH_ATTR])
    if _attrs_digest(fh) != recorded.get(_ATTRS):
        raise IntegrityError(f"{path}: corrupt store: its attributes differ from those written "
                             "(rerun the step that wrote it)")
    stored = sorted(k for k in recorded if k != _ATTRS)
    if datasets is None:
        wanted = stored
    else:
        wanted = sorted({name for item in datasets for name in stored
                         if name == item.strip("/") or name.startswith(item.strip("/") + "/")})
        absent = [d for d in datasets if not any(w == d or w.startswith(d.strip("/") + "/") for w in wanted)]
        if absent:
            raise IntegrityError(f"{path}: store lacks {', '.join(absent)}")
    for name in wanted:
        if name not in fh or dataset_digest(fh[name]) != recorded[name]:
            raise _dataset_differs(path, name)


def verify_values(fh: h5py.File, path: str | Path, name: str, values: np.ndarray) -> None:
    """Check ``values``, the whole dataset ``name`` of a store opened with :func:`open_store`
    (which checked its attributes) as just read, against its recorded digest without reading the
    file again; raise IntegrityError naming ``path`` on a difference. Values read into another
    dtype than the stored one are checked by reading the dataset again."""
    if HASH_ATTR not in fh.attrs:   # open_store warned already
        return
    name = name.strip("/")
    ds = fh[name]
    if values.dtype != ds.dtype or values.shape != ds.shape or ds.dtype.kind == "O":
        verify_store(fh, path, [name])
        return
    digest = hashlib.sha256(_header(ds))
    if values.size:   # the bytes in row order, as _update_with_dataset hashes them slab by slab
        digest.update(np.ascontiguousarray(values).data)
    if json.loads(fh.attrs[HASH_ATTR]).get(name) != digest.hexdigest():
        raise _dataset_differs(path, name)


@contextlib.contextmanager
def open_store(path: str | Path, datasets: Iterable[str] | None = None) -> Iterator[h5py.File]:
    """Open a store for reading, having verified ``datasets`` (all when None); a file h5py cannot
    read, or whose content differs from its digests, is an IntegrityError naming it."""
    try:
        fh = h5py.File(path, "r")
    except FileNotFoundError:
        raise
    except OSError as err:
        raise IntegrityError(f"{path}: not a readable HDF5 store ({err}); rerun the step that wrote it") from err
    with fh:
        try:
            verify_store(fh, path, None if datasets is None else list(datasets))
        except IntegrityError:
            raise
        except Exception as err:  # h5py raises many types for damaged internals
            raise IntegrityError(f"{path}: corrupt store ({type(err).__name__}: {err}); "
                                 "rerun the step that wrote it") from err
        yield fh


def _update_with_object(digest: hashlib._Hash, obj: Any) -> None:
    import torch

    if isinstance(obj, torch.Tensor):
        t = obj.detach().cpu().contiguous()
        digest.update(f"tensor{t.dtype}{tuple(t.shape)}".encode())
        if t.numel():
            digest.update(t.reshape(-1).view(torch.uint8).numpy().data)
    elif isinstance(obj, dict):
        digest.update(f"dict{len(obj)}".encode())
        for key in sorted(obj, key=str):
            _update_with_object(digest, key)
            _update_with_object(digest, obj[key])
    elif isinstance(obj, (list, tuple)):
        digest.update(f"{type(obj).__name__}{len(obj)}".encode())
        for item in obj:
            _update_with_object(digest, item)
    else:
        digest.update(f"{type(obj).__name__}:{obj!r};".encode())


def payload_digest(obj: dict[str, Any]) -> str:
    """SHA-256 of a torch file's content: every entry but ``content_sha256``."""
    digest = hashlib.sha256()
    _update_with_object(digest, {k: v for k, v in obj.items() if k != HASH_ATTR})
    return digest.hexdigest()


def save_torch(obj: dict[str, Any], path: str | Path) -> None:
    """``torch.save`` with the content digest, atomically. Serialised in memory first, so that a
    full disk is an OSError naming the file (torch's own writer reports 'unexpected pos')."""
    import torch

    buffer = io.BytesIO()
    torch.save(obj | {HASH_ATTR: payload_digest(obj)}, buffer)
    with atomic_path(path, ".pt") as tmp, open(tmp, "wb") as fh:
        fh.write(buffer.getbuffer())


def load_torch(source: str | Path | bytes, what: str = "model file", label: str | None = None) -> dict[str, Any]:
    """Load a file (or its bytes) written by :func:`save_torch`, tensors and plain types only, and
    check its digest; an unreadable, unsafe or changed file is an IntegrityError naming it
    (``label``, by default the path)."""
    import torch

    if isinstance(source, bytes):
        name, stream = label or "<bytes>", io.BytesIO(source)
    else:
        name, stream = label or str(source), Path(source)
        if not stream.is_file():
            raise FileNotFoundError(2, f"no such {what}", str(source))
    try:
        obj = torch.load(stream, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, UnpicklingError, EOFError, ...
        if "Weights only load failed" in str(err):
            reason = "it holds Python objects other than tensors and plain values, refused: loading them could run code"
        else:
            text = re.sub(r"\x1b\[[0-9;]*m", "", str(err)).strip()
            reason = text.splitlines()[0] if text else type(err).__name__
        raise IntegrityError(f"{name}: not a loadable {what} ({reason})") from err
    if not isinstance(obj, dict):
        raise IntegrityError(f"{name}: not an mlpipe {what} (a {type(obj).__name__}, not a dict)")
    if HASH_ATTR not in obj:
        log.warning("%s has no content hash (written by an older mlpipe): not verified", name)
    elif payload_digest(obj) != obj[HASH_ATTR]:
        raise IntegrityError(f"{name}: corrupt {what}: its content differs from what was written "
                             "(rerun the step that wrote it)")
    return obj


def bytes_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_digest(path: str | Path) -> str:
    """SHA-256 of a whole file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK_BYTES), b""):
            digest.update(block)
    return digest.hexdigest()

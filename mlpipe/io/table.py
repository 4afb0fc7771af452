"""One way to read every catalogue: the format found from the file's content, columns found through
the user's column map, values converted with the location (file, line or row, column) of any problem.

Formats: FITS binary tables, VOTable, ECSV and IPAC tables are read by ``astropy.table.Table``
(their units come with them; a mixin such as a SkyCoord becomes the plain columns FITS stores,
``coord.ra`` and ``coord.dec``); CSV, tab-separated, whitespace text (the GSWLC-2 release) and the
``|``-separated text of HyperLeda's SQL interface are read line by line here, strictly: a row with
a missing or extra field is an error naming its line (astropy's and pandas' CSV readers pad a short
row with missing values, which would turn a truncated file into galaxies "without photometry"). A
header written as a comment right above the data (``# a b c``) names the columns. Every text value
stays text until a reader asks for it as an id (64-bit integer, never through float), a number or a
string. After reading, each reader checks the user's column map against the names it looked up
(``RawTable.check_column_map``): a misspelt name or a column shared by two names is an error naming
the config key.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from mlpipe.io.validation import InputError

FITS_MAGIC = b"SIMPLE  ="
GZIP_MAGIC = b"\x1f\x8b"
TEXT_FORMATS = ("csv", "whitespace", "pipe", "tab")
_INTEGER = re.compile(r"^[+-]?\d+$")


def detect_format(path: str | Path) -> str:
    """fits, votable, ecsv, ipac, csv, whitespace or pipe, from the first bytes / first data line
    (after any number of ``#`` comment lines)."""
    path = Path(path)
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path}: is a folder, not a catalogue file")
    first: list[str] = []
    with open(path, "rb") as fh:
        head = fh.read(4096)
        if not head.strip():
            raise InputError(f"{path}: empty file")
        if head.startswith(FITS_MAGIC):
            return "fits"
        if head.startswith(GZIP_MAGIC):
            raise InputError(f"{path}: gzip-compressed; decompress it first (gunzip)")
        text = head.decode("utf-8", errors="replace").lstrip("\ufeff")
        stripped = text.lstrip()
        if stripped.startswith("<?xml") or stripped.startswith("<VOTABLE"):
            return "votable"
        if stripped.startswith("# %ECSV"):
            return "ecsv"
        if b"\x00" in head:
            raise InputError(f"{path}: binary content that is neither FITS nor text")
        fh.seek(0)
        for raw in fh:   # the first two lines that are not comments, however many comments come first
            if b"\x00" in raw:
                raise InputError(f"{path}: binary content that is neither FITS nor text")
            line = raw.decode("utf-8", errors="replace").lstrip("\ufeff")
            if line.strip() and not line.lstrip().startswith("#"):
                first.append(line)
                if len(first) == 2:
                    break
    if not first:
        raise InputError(f"{path}: no data rows (only comments)")
    line = first[0]
    if line.startswith("\\") or (len(first) > 1 and _ipac_types(first[1])):
        return "ipac"   # IPAC table: keyword lines, then '|name|' and '|type|' header lines
    if "|" in line:
        return "pipe"
    if "," in line:
        return "csv"
    return "whitespace"


#: the data types of an IPAC table's second header line
_IPAC_TYPES = {"char", "c", "double", "d", "float", "f", "real", "r", "int", "i", "integer", "long", "l", "date"}


def _ipac_types(line: str) -> bool:
    """Whether ``line`` is an IPAC table's type line: '|char|double|int|'."""
    if not line.strip().startswith("|"):
        return False
    fields = [f.strip().lower() for f in line.strip().strip("|").split("|")]
    return bool(fields) and all(f in _IPAC_TYPES for f in fields)


@dataclass
class RawTable:
    """A table as read: its own column names, values (text, or typed for binary formats), the file
    location of each row (``line 12`` / ``row 3``) and the units the file gives."""

    path: str
    format: str
    columns: dict[str, np.ndarray]
    locations: list[str]
    units: dict[str, str] = field(default_factory=dict)
    #: our names a reader looked up (``find``): what a user's column map may name
    asked: set[str] = field(default_factory=set)

    def __len__(self) -> int:
        return len(self.locations)

    @property
    def is_text(self) -> bool:
        return self.format in TEXT_FORMATS

    def where(self, row: int, column: str) -> str:
        return f"{self.path}: {self.locations[row]}, column '{column}'"

    def find(self, name: str, column_map: Mapping[str, str] | None = None, aliases: Sequence[str] = ()) -> str | None:
        """The file's column for our ``name``: the mapped name, else the name itself or an alias,
        matched exactly or ignoring case (FITS names are often upper case)."""
        self.asked.add(name)
        if column_map and name in column_map:
            mapped = column_map[name]
            return mapped if mapped in self.columns else None
        lower = {c.lower(): c for c in self.columns}
        for candidate in (name, *aliases):
            if candidate in self.columns:
                return candidate
            if candidate.lower() in lower:
                return lower[candidate.lower()]
        return None

    def require(self, names: Sequence[str], column_map: Mapping[str, str] | None = None,
                aliases: Mapping[str, Sequence[str]] | None = None, what: str = "") -> dict[str, str]:
        """Our name -> the file's column for each of ``names``; missing ones are one error that
        names them (and the map entry that was looked for)."""
        found, missing = {}, []
        for name in names:
            col = self.find(name, column_map, (aliases or {}).get(name, ()))
            if col is None:
                mapped = (column_map or {}).get(name)
                missing.append(f"{name} (mapped to '{mapped}')" if mapped else name)
            else:
                found[name] = col
        if missing:
            hint = f"; map your names with {what}" if what else ""
            raise InputError(f"{self.path}: missing column(s) {', '.join(missing)}{hint} "
                             f"(the file has: {', '.join(list(self.columns)[:40])})")
        return found

    def check_column_map(self, column_map: Mapping[str, str] | None, what: str, also_known: Sequence[str] = (),
                         optional: Sequence[str] = ()) -> None:
        """After a reader has looked up its columns: every entry of the user's map (``what``, the
        config key, e.g. ``inputs.gswlc.columns``) must be one of our names, one the reader looked
        for or one of ``also_known`` (names it may use with other settings, such as other bands):
        a misspelt name would be ignored. Each name the reader looked for must map to a column the
        file has (``optional`` ones: read where the file has them), and no two of them may share
        one."""
        if not column_map:
            return
        shared: dict[str, str] = {}
        for ours, theirs in column_map.items():
            if ours not in self.asked:
                if ours in also_known:
                    continue
                raise InputError(f"{what}.{ours}: not a name this catalogue's reader uses (it looks for: "
                                 f"{', '.join(sorted(self.asked))}); check the spelling")
            if theirs not in self.columns:
                if ours in optional:
                    continue
                raise InputError(f"{what}.{ours}: maps to '{theirs}', which {self.path} does not have "
                                 f"(it has: {', '.join(list(self.columns)[:40])})")
            if theirs in shared:
                raise InputError(f"{what}: {shared[theirs]} and {ours} both map to {self.path}'s column "
                                 f"'{theirs}'; each of our names needs its own column")
            shared[theirs] = ours

    def ids(self, column: str, missing: int | None = None) -> np.ndarray:
        """A 64-bit integer id column, exactly: text must be digits (``123.0`` is an error), a binary
        column must be integer typed (float64 cannot hold 19-digit SDSS ids). A blank field or a
        masked (NULL) value is an error, or ``missing`` where one is given (an optional id)."""
        values = self.columns[column]
        if not self.is_text and values.dtype.kind in "iu":
            if values.dtype.kind == "u" and (np.ma.filled(values, 0) >= 2**63).any():
                row = int(np.flatnonzero(np.ma.filled(values, 0) >= 2**63)[0])
                raise InputError(f"{self.where(row, column)}: id {values[row]} does not fit in 64 bits")
            if np.ma.isMaskedArray(values) and np.ma.getmaskarray(values).any():
                if missing is not None:
                    return np.ma.filled(values.astype(np.int64), missing)
                row = int(np.flatnonzero(np.ma.getmaskarray(values))[0])
                raise InputError(f"{self.where(row, column)}: missing id")
            return np.asarray(values).astype(np.int64)
        if not self.is_text and values.dtype.kind == "f":
            raise InputError(f"{self.path}: column '{column}' is stored as {values.dtype} floating point; ids must "
                             "be integers or text (a float cannot hold a 19-digit SDSS id exactly)")
        text = self.strings(column)
        out = np.zeros(len(text), dtype=np.int64)
        for row, value in enumerate(text):
            if not value and missing is not None:
                out[row] = missing
                continue
            if not _INTEGER.match(value):
                kind = "missing id" if not value else f"not an integer id: {value!r}"
                raise InputError(f"{self.where(row, column)}: {kind}")
            number = int(value)
            if not -2**63 <= number < 2**63:
                raise InputError(f"{self.where(row, column)}: id {value} does not fit in 64 bits")
            out[row] = number
        return out

    def numbers(self, column: str, missing: Sequence[float] = ()) -> np.ndarray:
        """A float64 column; a blank field, a masked value or one of the ``missing`` markers is NaN,
        text that is not a number an error naming line and column. inf stays inf (the caller's range
        check rejects it with a reason)."""
        values = self.columns[column]
        if self.is_text or values.dtype.kind in "OUS":
            import pandas as pd

            text = self.strings(column)
            out = pd.to_numeric(pd.Series(text, dtype=object), errors="coerce").to_numpy(dtype=float, copy=True)
            for row in np.flatnonzero(np.isnan(out) & (text != "")):  # only the suspicious ones, one by one
                try:
                    out[row] = float(text[row])
                except ValueError:
                    raise InputError(f"{self.where(row, column)}: not a number: {text[row]!r}") from None
        else:
            if values.dtype.kind not in "iufb":
                raise InputError(f"{self.path}: column '{column}' holds {values.dtype}, not numbers")
            if values.ndim != 1:
                raise InputError(f"{self.path}: column '{column}' is an array column "
                                 f"(shape {values.shape[1:]} per row); give its element (band order)")
            out = np.ma.filled(np.ma.asarray(values).astype(float), np.nan)
        for marker in missing:
            out[out == marker] = np.nan
        return out

    def angles(self, column: str, *, unit: str = "deg", missing: Sequence[float] = ()) -> np.ndarray:
        """An angle column (RA, Dec in degrees; a diameter in arcmin) in ``unit``: as read where the
        file gives no unit, else converted from the file's angle unit (rad, hourangle, arcsec, ...);
        another unit (or a log of an angle) is an error naming file, column and unit. ``missing``
        as in :meth:`numbers`."""
        from astropy import units as u

        from mlpipe.io.validation import angle_degrees

        values = self.numbers(column, missing)
        if not self.unit(column):
            return values
        return angle_degrees(values, self.unit(column), "deg", f"{self.path}, column '{column}'") * u.deg.to(unit)

    def array_numbers(self, column: str) -> np.ndarray:
        """A binary-table array column (e.g. NSA's ``NMGY[7]``) as a (rows, elements) float array."""
        values = self.columns[column]
        if self.is_text or values.ndim != 2:
            raise InputError(f"{self.path}: column '{column}' is not an array column")
        return np.ma.filled(np.ma.asarray(values).astype(float), np.nan)

    def strings(self, column: str) -> np.ndarray:
        values = self.columns[column]
        if self.is_text:
            return values
        if values.dtype.kind == "S":
            values = np.char.decode(values, "utf-8", errors="replace")
        mask = np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else np.zeros(len(values), bool)
        return np.array(["" if m else str(v).strip() for v, m in zip(np.asarray(values), mask)], dtype=object)

    def unit(self, column: str) -> str | None:
        return self.units.get(column)


def read_table(path: str | Path, names: Sequence[str] | None = None, allow_empty: bool = False) -> RawTable:
    """Read any supported catalogue file. ``names``: column names for a header-less whitespace
    file (the GSWLC-2 release); a header-less file without them is an error. A file with a header
    but no rows is an error too, unless ``allow_empty`` (a list that may rightly be empty, such as
    the star catalogue of a field without stars): a text header (CSV, quoted CSV, whitespace or
    ``|``) or a FITS, VOTable or ECSV table of zero rows then gives a table of zero rows."""
    path = Path(path)
    fmt = detect_format(path)
    if fmt in TEXT_FORMATS:
        return _read_text(path, fmt, names, allow_empty)
    return _read_astropy(path, fmt, allow_empty)


def _commented_header(lines: list[str], *, before: int, split, width: int) -> list[str] | None:
    """The column names of a header written as a comment (``# a b c``, astropy's
    ``commented_header``, TOPCAT's ascii): the last comment line above line ``before`` (1-based;
    blank lines skipped) when it splits into ``width`` distinct names none of which is a number."""
    for text in reversed(lines[:before - 1]):
        if not text.strip():
            continue
        if not text.lstrip().startswith("#"):
            return None
        names = split(text.lstrip()[1:].strip())
        if len(names) == width and len(set(names)) == width and not any(_looks_numeric(v) for v in names):
            return names
        return None
    return None


def _decode(path: Path) -> str:
    data = path.read_bytes()
    try:
        return data.decode("utf-8").lstrip("\ufeff")
    except UnicodeDecodeError as err:
        line = data[:err.start].count(b"\n") + 1
        raise InputError(f"{path}: line {line}: not UTF-8 text (byte {data[err.start]:#04x} at offset "
                         f"{err.start}); is it a binary or differently encoded file?") from None


def _read_text(path: Path, fmt: str, names: Sequence[str] | None, allow_empty: bool = False) -> RawTable:
    text_lines = _decode(path).splitlines()
    lines = [(n, line) for n, line in enumerate(text_lines, start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if fmt == "whitespace" and lines and "\t" in lines[0][1]:
        # tab-separated (a blank field between two tabs is a missing value), where every line has
        # as many tab-separated fields as the first; else tabs are only white space
        widths = {len(line.split("\t")) for _, line in lines}
        names = [f.strip() for f in lines[0][1].split("\t")]
        if len(widths) == 1 and widths.pop() > 1 and all(names):   # a header with empty names: tabs that align
            fmt = "tab"

    def split(text: str) -> list[str]:
        if fmt == "csv":
            return [f.strip() for f in next(csv.reader(io.StringIO(text)))]
        if fmt == "pipe":   # 'a | b |' (HyperLeda) or '| a | b |' (psql, Markdown)
            parts = [p.strip() for p in text.strip().split("|")]
            if len(parts) > 1 and parts[-1] == "":
                parts = parts[:-1]
            return parts[1:] if text.strip().startswith("|") and parts and parts[0] == "" else parts
        if fmt == "tab":
            return [f.strip() for f in text.split("\t")]
        return ["" if f == '""' else f for f in text.split()]   # "": a blank (astropy writes masked values so)

    if fmt == "pipe":
        rows = [(n, split(line)) for n, line in lines if not set(line.strip()) <= set("-+|= ")]
    else:
        rows = [(n, split(line)) for n, line in lines]
    if not rows:
        raise InputError(f"{path}: no data rows")
    first = rows[0][1]
    has_header = not all(_looks_numeric(v) for v in first)
    # a first row with a number in it is data, not names: a comment right above may name its columns
    data_first = not has_header or any(v and _looks_numeric(v) for v in first)
    commented = (_commented_header(text_lines, before=rows[0][0], split=split, width=len(first))
                 if data_first else None)
    if commented is not None:
        header = commented   # the file's own names win over any assumed column order (or a data row)
    elif fmt == "whitespace" and names is not None and not has_header:
        header = list(names)
    elif has_header:
        header, rows = first, rows[1:]
    else:
        raise InputError(f"{path}: line {rows[0][0]}: no header line with the column names")
    if len(set(header)) != len(header):
        dup = next(h for h in header if header.count(h) > 1)
        raise InputError(f"{path}: the header names column '{dup}' twice")
    if not rows and not allow_empty:
        raise InputError(f"{path}: a header but no data rows")
    sep = {"csv": "comma-separated", "pipe": "'|'-separated", "whitespace": "whitespace-separated",
           "tab": "tab-separated"}[fmt]
    for n, values in rows:
        if len(values) != len(header):
            raise InputError(f"{path}: line {n}: expected {len(header)} {sep} fields, found {len(values)}"
                             + (" (a truncated row?)" if len(values) < len(header) else ""))
    data = np.array([values for _, values in rows], dtype=object).reshape(len(rows), len(header))
    columns = {name: data[:, i] for i, name in enumerate(header)}
    return RawTable(str(path), fmt, columns, [f"line {n}" for n, _ in rows])


def _looks_numeric(value: str) -> bool:
    try:
        float(value)
        return True
    except ValueError:
        return value == ""


def _read_astropy(path: Path, fmt: str, allow_empty: bool = False) -> RawTable:
    import warnings

    from astropy.table import Table

    header_lines, lines = 0, []
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if fmt == "fits":
                table = Table.read(path, format="fits", memmap=False)
            elif fmt == "votable":
                table = Table.read(path, format="votable")
            elif fmt == "ipac":
                lines = _decode(path).splitlines()
                table = Table.read(lines, format="ascii.ipac")
                header_lines = sum(1 for line in lines if line.startswith(("\\", "|")))
            else:
                lines = _decode(path).splitlines()   # without a byte-order mark, which the ECSV reader refuses
                table = Table.read(lines, format="ascii.ecsv")
                header_lines = sum(1 for line in lines if line.startswith("#")) + 1
            if table.has_mixin_columns:   # e.g. a SkyCoord: its plain columns, as FITS stores them (coord.ra, ...)
                from astropy.table.serialize import represent_mixins_as_columns

                table = represent_mixins_as_columns(table)
            columns = {name: _native(table[name]) for name in table.colnames}
    except InputError:
        raise
    except Exception as err:  # astropy raises many types for a damaged file; all mean the same to a user
        located = _ecsv_bad_field(path, lines) if fmt == "ecsv" else None
        raise InputError(located or f"{path}: not a readable {fmt.upper()} table ({type(err).__name__}: {err})") from None
    if len(table) == 0 and not allow_empty:
        raise InputError(f"{path}: a table with no rows")
    units = {name: str(table[name].unit) for name in table.colnames if getattr(table[name], "unit", None) is not None}
    if fmt in ("ecsv", "ipac"):
        locations = [f"line {header_lines + i + 1}" for i in range(len(table))]
    else:
        locations = [f"row {i + 1}" for i in range(len(table))]
    return RawTable(str(path), fmt, columns, locations, units)


def _ecsv_bad_field(path: Path, lines: list[str]) -> str | None:
    """Where an ECSV table astropy refuses holds a value its header's datatype cannot hold: "file:
    line N, column 'c': not a float64: 'abc'", or None where no single field explains the refusal."""
    import yaml

    header = [line[2:] if line.startswith("# ") else line[1:] for line in lines if line.startswith("#")]
    try:
        meta = yaml.safe_load("\n".join(header[header.index("---") + 1:]))
        datatypes = {c["name"]: c.get("datatype", "string") for c in meta["datatype"] if "subtype" not in c}
    except (ValueError, yaml.YAMLError, KeyError, TypeError):
        return None
    delimiter = meta.get("delimiter", " ")
    data = [(n, line) for n, line in enumerate(lines, start=1) if not line.startswith("#") and line.strip()]
    if not data:
        return None

    def fields(line: str) -> list[str]:
        return next(csv.reader([line.strip()], delimiter=delimiter, skipinitialspace=True))

    names = fields(data[0][1])
    for n, line in data[1:]:
        for name, value in zip(names, fields(line)):
            kind = datatypes.get(name, "string")
            if value == "" or not kind.startswith(("int", "uint", "float", "bool")):
                continue
            try:
                if kind.startswith("float"):
                    float(value)
                elif kind.startswith("bool"):
                    if value not in ("True", "False", "0", "1"):
                        raise ValueError(value)
                elif not _INTEGER.match(value):
                    raise ValueError(value)
            except ValueError:
                return f"{path}: line {n}, column '{name}': {value!r} does not fit the column's datatype {kind}"
    return None


def _native(column) -> np.ndarray:
    """A column as a (masked) numpy array in native byte order."""
    data = column.data if hasattr(column, "mask") else np.asarray(column)
    if isinstance(data, np.ma.MaskedArray):
        if data.dtype.byteorder not in "=|":
            data = data.astype(data.dtype.newbyteorder("="))
        return data
    data = np.asarray(data)
    if data.dtype.byteorder not in "=|":
        data = data.astype(data.dtype.newbyteorder("="))
    return data

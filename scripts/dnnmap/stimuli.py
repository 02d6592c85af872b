"""Read and check the stimulus table, whose row order is the stimulus order everywhere after.

A stimulus table has one row per stimulus with at least the columns ``stim_id`` and ``path``
(relative paths are taken from the table's folder), an optional ``modality`` (``image``,
``video`` or ``audio`` in every row; inferred from the file extension when the column is
absent, while an empty cell is an error) and any other columns, kept as attributes (for
example ``category``, ``split`` or ``group``).
Tables are read as TSV, as CSV when the name ends in ``.csv``, and as DNNBrain stimulus
files when it ends in ``.stim.csv``. Errors name the table file and the row as its line
number in the file (the header is line 1), so the user can go straight to it.
"""

from __future__ import annotations

import csv
import hashlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd

from dnnmap.errors import InputError
from dnnmap.images import DEFAULT_BACKGROUND, ImageInfo, check_background, read_image
from dnnmap.store import atomic_path

REQUIRED = ("stim_id", "path")
"""Columns every stimulus table must have."""

MODALITIES = {
    "image": (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif"),
    "video": (".mp4", ".avi", ".mov", ".mkv", ".webm"),
    "audio": (".wav", ".flac", ".mp3", ".ogg"),
}
"""Known modalities and the file extensions each is inferred from."""

LINES_ATTR = "dnnmap_lines"
"""Key in ``DataFrame.attrs`` holding each row's line number in the table file."""

IMAGES_ATTR = "dnnmap_images"
"""Key in ``DataFrame.attrs`` of a checked table: row index -> :class:`ImageInfo` of each
decoded image (see :func:`check_stimuli`)."""

MEDIA_ATTR = "dnnmap_media"
"""Key in ``DataFrame.attrs`` of a checked table: row index -> ``VideoInfo`` or ``AudioInfo``
(:mod:`dnnmap.media`) of each video and audio stimulus (from the header without ``decode``,
from the decoded file with it)."""

_EXT_MODALITY = {ext: mod for mod, exts in MODALITIES.items() for ext in exts}


def read_table(path: str | os.PathLike) -> pd.DataFrame:
    """Read a stimulus table with every value as a string.

    Parameters
    ----------
    path : path
        A TSV file; a CSV file if the name ends in ``.csv``; a DNNBrain stimulus file if it
        ends in ``.stim.csv``. Blank lines are skipped.

    Returns
    -------
    pandas.DataFrame
        One row per stimulus in file order. ``attrs[LINES_ATTR]`` holds each row's line
        number in the file, which :func:`check_stimuli` uses in its messages.

    Raises
    ------
    InputError
        If the file is missing, empty or cannot be parsed.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: stimulus table not found; expected an existing TSV/CSV file")
    if path.name.lower().endswith(".stim.csv"):
        return _read_dnnbrain(path)
    sep, kind = (",", "CSV") if path.suffix.lower() == ".csv" else ("\t", "TSV")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)
            table = pd.read_csv(
                path,
                sep=sep,
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=False,
                index_col=False,
                encoding="utf-8-sig",
            )
    except pd.errors.EmptyDataError:
        raise InputError(
            f"{path}: file is empty; expected a header line with stim_id and path"
        ) from None
    except (pd.errors.ParserError, pd.errors.ParserWarning, UnicodeError) as exc:
        _raise_long_row(path, sep, kind)
        reason = str(exc).strip().splitlines()[-1]
        raise InputError(f"{path}: cannot parse as {kind} table ({reason})") from exc
    table.columns = [str(c).strip() for c in table.columns]
    lines = [i + 2 for i in range(len(table))]
    keep = (table != "").any(axis=1).to_numpy()
    table = table[keep].reset_index(drop=True)
    table.attrs[LINES_ATTR] = [n for n, k in zip(lines, keep, strict=True) if k]
    return table


def _raise_long_row(path: Path, sep: str, kind: str) -> None:
    """Stop naming the first row with more fields than the header, if there is one."""
    with open(path, newline="", encoding="utf-8-sig", errors="replace") as f:
        reader = csv.reader(f, delimiter=sep)
        width = len(next(reader, []))
        for fields in reader:
            if len(fields) > width:
                raise InputError(
                    f"{path} row {reader.line_num}: {len(fields)} fields; expected at most "
                    f"{width} as in the header ({kind}, one value per column)"
                )


def _read_dnnbrain(path: Path) -> pd.DataFrame:
    """Read a DNNBrain ``.stim.csv`` image stimulus file as a stimulus table.

    The file holds ``key=value`` lines (``type=image``, ``path=<image folder>``, optional
    others such as ``title=``), then a ``data=stimID,...`` line naming the columns of the
    comma-separated rows that follow. ``stimID`` is an image file name relative to
    ``path=``; it becomes ``path`` (``path=`` joined with it, so a relative ``path=`` is taken
    from the table's folder) and ``stim_id`` (its file name without extension). The other
    columns are kept as attributes and ``type`` becomes ``modality``; the ``key=value``
    lines go to ``attrs["dnnbrain"]``.
    """
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except UnicodeError as exc:
        raise InputError(f"{path}: not UTF-8 text ({exc.reason}); expected a .stim.csv") from exc
    meta, header, start = {}, None, len(lines)
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InputError(
                f"{path} row {number}: {line[:60]!r} is not key=value; expected type=, path= "
                "and other key=value lines, then data=stimID,..."
            )
        if key.strip() == "data":
            header, start = [c.strip() for c in value.split(",")], number
            break
        meta[key.strip()] = value.strip()
    meta["type"] = meta.get("type", "").lower()
    _check_dnnbrain_header(path, meta, header, start)
    rows, numbers = [], []
    for number, fields in _csv_rows(lines, start):
        if len(fields) != len(header):
            raise InputError(
                f"{path} row {number}: {len(fields)} fields; expected {len(header)} "
                f"as in the data= line ({','.join(header)})"
            )
        rows.append(dict(zip(header, fields, strict=True)))
        numbers.append(number)
    stim = [r.pop("stimID") for r in rows]
    table = pd.DataFrame(
        {
            "stim_id": [Path(s).stem for s in stim],
            "path": [os.path.join(meta["path"], s) for s in stim],
            "modality": [meta["type"]] * len(stim),
        },
        dtype=str,
    )
    extra = [c for c in header if c != "stimID"]
    table = pd.concat([table, pd.DataFrame(rows, columns=extra, dtype=str)], axis=1)
    table.attrs[LINES_ATTR] = numbers
    table.attrs["dnnbrain"] = meta
    return table


def _check_dnnbrain_header(path: Path, meta: dict, header: list | None, start: int) -> None:
    """Stop unless a DNNBrain file has type=image, path= and a data= line with stimID."""
    if header is None:
        raise InputError(f"{path}: no data= line; expected data=stimID,... before the rows")
    if meta.get("type") != "image":
        raise InputError(
            f"{path}: type={meta['type']!r}; expected type=image "
            "(DNNBrain video files, one movie with frame numbers, are not supported)"
        )
    if "path" not in meta:
        raise InputError(f"{path}: no path= line; expected path=<folder of the images>")
    clash = sorted({"stim_id", "path", "modality"} & set(header))
    if "stimID" not in header or clash:
        raise InputError(
            f"{path} row {start}: data= columns {','.join(header)}; expected stimID "
            f"and none of stim_id, path, modality"
        )


def _csv_rows(lines: Sequence[str], start: int) -> Iterator[tuple[int, list[str]]]:
    """Yield (line number, fields) for the non-blank comma-separated lines after ``start``."""
    for number, line in enumerate(lines[start:], start + 1):
        if line.strip():
            yield number, next(csv.reader([line]))


def check_stimuli(
    table: pd.DataFrame,
    table_path: str | os.PathLike,
    decode: bool = True,
    background: Sequence[int] = DEFAULT_BACKGROUND,
) -> pd.DataFrame:
    """Check a stimulus table and return it in dnnmap's form, rows in the same order.

    Parameters
    ----------
    table : pandas.DataFrame
        The table as :func:`read_table` returns it (string values).
    table_path : path
        The file it came from: named in messages; relative paths are taken from its folder.
    decode : bool
        Read every image fully as the network will (:func:`dnnmap.images.read_image`):
        slower, catches broken files and records what each image needed. Video and audio
        files are decoded fully with it, and have their headers read without it.
    background : sequence of 3 int
        RGB colour transparent pixels are composited on (``stimuli.background``).

    Returns
    -------
    pandas.DataFrame
        Columns ``stim_id``, ``path`` (absolute), ``modality``, then the other columns.
        With ``decode``, ``attrs[IMAGES_ATTR]`` maps each image row's index to its
        :class:`~dnnmap.images.ImageInfo` (mode, size, conversions). ``attrs[MEDIA_ATTR]``
        maps each video and audio row's index to its header info (frames, rate, duration;
        rate, samples, channels), from the fully decoded file with ``decode``.

    Raises
    ------
    InputError
        One line naming ``table_path`` and the row (its line number in the file) if a
        required column is missing, a stim_id is empty, unsafe or repeated, a file is
        missing or does not decode (a video or audio file whose header does not read, even
        without ``decode``, or that holds no frame or sample), or a modality is empty,
        unknown or cannot be inferred.
    """
    table_path = Path(table_path)
    background = check_background(background)
    _check_columns(table, table_path)
    folder = table_path.absolute().parent
    lines = table.attrs.get(LINES_ATTR)
    if lines is None or len(lines) != len(table):
        lines = [i + 2 for i in range(len(table))]
    given = table["modality"] if "modality" in table.columns else [None] * len(table)
    seen: dict[str, int] = {}
    paths, modalities, infos, media = [], [], {}, {}
    for row, (line, stim_id, value, mod) in enumerate(
        zip(lines, table["stim_id"], table["path"], given, strict=True)
    ):
        where = f"{table_path} row {line}"
        _check_stim_id(_text(stim_id), where, seen, line)
        path = _resolve(_text(value), folder, where)
        modality = _modality(None if mod is None else _text(mod), path, where)
        if decode and modality == "image":
            infos[row] = _decode(path, where, background)
        elif modality in ("video", "audio"):
            media[row] = _media_info(path, modality, where, decode)
        paths.append(str(path))
        modalities.append(modality)
    out = pd.DataFrame(
        {"stim_id": [_text(s) for s in table["stim_id"]], "path": paths, "modality": modalities},
        dtype=str,
    )
    rest = table.drop(columns=["stim_id", "path", "modality"], errors="ignore")
    out = pd.concat([out, rest.reset_index(drop=True)], axis=1)
    out.attrs[LINES_ATTR] = list(lines)
    if decode:
        out.attrs[IMAGES_ATTR] = infos
    out.attrs[MEDIA_ATTR] = media
    return out


def _media_info(path: Path, modality: str, where: str, decode: bool):
    """The header (or, with ``decode``, the decoded) info of a video or audio file."""
    from dnnmap.media import audio, video

    try:
        if modality == "video":
            return video.check_video(path) if decode else video.probe_video(path)
        return audio.read_audio(path)[1] if decode else audio.probe_audio(path)
    except InputError as exc:
        reason = str(exc).replace(str(path), path.name)
        raise InputError(f"{where}: {reason}") from exc


def _text(value: object) -> str:
    """Return a table cell as str ('' for missing values)."""
    return "" if value is None or (isinstance(value, float) and value != value) else str(value)


def _check_columns(table: pd.DataFrame, table_path: Path) -> None:
    """Stop unless the table has the required columns and at least one row."""
    missing = [c for c in REQUIRED if c not in table.columns]
    if missing:
        _check_separator(table, table_path)
        found = ", ".join(map(str, table.columns)) or "none"
        raise InputError(
            f"{table_path} row 1 (header): missing column {', '.join(missing)} (found: {found}); "
            "expected at least stim_id and path"
        )
    if table.empty:
        raise InputError(f"{table_path}: no stimulus rows; expected at least one row")


def _check_separator(table: pd.DataFrame, table_path: Path) -> None:
    """Stop naming the separator when a header reads as one column holding all the names
    (a CSV read as TSV, or a TSV read as CSV)."""
    if len(table.columns) != 1:
        return
    header = str(table.columns[0])
    expected = "," if table_path.suffix.lower() == ".csv" else "\t"
    for sep, name in ((",", "commas"), ("\t", "tabs"), (";", "semicolons")):
        if sep != expected and all(c in header.split(sep) for c in REQUIRED):
            kind = "CSV (comma-separated)" if expected == "," else "TSV (tab-separated)"
            hint = (
                "rename it to .csv"
                if sep == "," and expected == "\t"
                else "separate the columns with " + ("tabs" if expected == "\t" else "commas")
            )
            raise InputError(
                f"{table_path} row 1 (header): columns are separated by {name} but a file "
                f"named {table_path.name} is read as {kind}; expected {kind} ({hint})"
            )


def _check_stim_id(stim_id: str, where: str, seen: dict[str, int], line: int) -> None:
    """Stop unless ``stim_id`` is non-empty, safe as a file/HDF5 name and not in ``seen``."""
    expected = "expected a unique non-empty id without '/', '\\', control characters or end spaces"
    if not stim_id:
        raise InputError(f"{where}: stim_id is empty; {expected}")
    unsafe = (
        stim_id != stim_id.strip()
        or stim_id in (".", "..")
        or any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in stim_id)
    )
    if unsafe:
        raise InputError(f"{where}: stim_id {stim_id!r} is not safe as a name; {expected}")
    if stim_id in seen:
        raise InputError(f"{where}: stim_id {stim_id!r} repeats row {seen[stim_id]}; {expected}")
    seen[stim_id] = line


def _resolve(value: str, folder: Path, where: str) -> Path:
    """Return the absolute path of an existing stimulus file (relative to ``folder``)."""
    if not value:
        raise InputError(f"{where}: path is empty; expected the stimulus file's path")
    path = Path(os.path.normpath(folder / Path(value).expanduser()))
    if not path.is_file():
        state = "is not a file" if path.exists() else "not found"
        raise InputError(
            f"{where}: {value!r} {state} (looked for {path}); expected an existing file, "
            "relative paths are taken from the table's folder"
        )
    return path


def _modality(given: str | None, path: Path, where: str) -> str:
    """Return the given modality (checked) or, without a column (None), the inferred one."""
    known = ", ".join(MODALITIES)
    if given is not None and not given.strip():
        raise InputError(
            f"{where}: modality is empty; expected one of {known} in every row, or no "
            "modality column at all (then each is inferred from the file extension)"
        )
    if given is not None:
        modality = given.strip().lower()
        if modality not in MODALITIES:
            raise InputError(f"{where}: modality {given!r} is unknown; expected one of {known}")
        return modality
    modality = _EXT_MODALITY.get(path.suffix.lower())
    if modality is None:
        raise InputError(
            f"{where}: cannot infer the modality of {path.name!r} from its extension; "
            f"expected a known extension or a modality column ({known})"
        )
    return modality


def _decode(path: Path, where: str, background: Sequence[int]) -> ImageInfo:
    """Read the image at ``path`` as the network will; stop naming the row if it fails."""
    try:
        return read_image(path, background)[1]
    except InputError as exc:
        raise InputError(f"{where}: {exc}") from exc
    except Exception as exc:  # PIL raises many types for broken files
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        reason = reason.replace(str(path), path.name)[:160]
        raise InputError(
            f"{where}: {path.name} does not decode as an image ({reason}); "
            "expected a readable image file"
        ) from exc


def write_stimuli(df: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write a checked stimulus table as TSV, atomically.

    Parameters
    ----------
    df : pandas.DataFrame
        The table :func:`check_stimuli` returned.
    path : path
        Target file (for example ``results/stimuli.tsv``).
    """
    with atomic_path(path) as tmp:
        df.to_csv(tmp, sep="\t", index=False, lineterminator="\n")


def read_stimuli(path: str | os.PathLike) -> pd.DataFrame:
    """Read a table that :func:`write_stimuli` wrote, every value as a string.

    Parameters
    ----------
    path : path
        The TSV file (for example ``results/stimuli.tsv``).

    Returns
    -------
    pandas.DataFrame
        Columns ``stim_id``, ``path``, ``modality``, then the attributes; rows in stimulus order.

    Raises
    ------
    InputError
        If ``stim_id``, ``path`` or ``modality`` is missing.
    """
    df = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in (*REQUIRED, "modality") if c not in df.columns]
    if missing:
        raise InputError(
            f"{path} row 1 (header): missing column {', '.join(missing)}; expected a table "
            "written by dnnmap with stim_id, path and modality"
        )
    return df


def stimulus_files_digest(paths: Sequence[str | os.PathLike]) -> str:
    """One sha256 over the bytes of all stimulus files, in the given (stimulus) order.

    Each file contributes its size (8 bytes) and then its bytes, so moving bytes from one
    file to the next changes the digest. Provenance records it with the file count, which
    keeps the record short however many stimuli there are.

    Parameters
    ----------
    paths : sequence of path
        The stimulus files, shape (n_stim,).

    Returns
    -------
    str
        ``"sha256:<hex>"``.
    """
    h = hashlib.sha256()
    for path in paths:
        h.update(os.path.getsize(path).to_bytes(8, "little"))
        with open(path, "rb") as f:
            while block := f.read(1 << 22):
                h.update(block)
    return f"sha256:{h.hexdigest()}"

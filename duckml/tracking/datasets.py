"""Dataset lineage: which data each run used, identified by a content digest.

``log_input`` records a dataset once in ``datasets`` (one row per name + digest + source) and links it to
the run in ``run_inputs`` with a context ("training", "validation", ...).

How the digest (SHA-256, hex) is computed, per kind of source:

- **Parquet** files (a path or a glob, files in sorted path order): for each file, its size in bytes and its
  raw footer (the Thrift ``FileMetaData``: schema, row count, every row group's and column chunk's byte
  sizes, encodings and min/max/null-count statistics). Cost: two small reads per file, whatever its size.
  An edit that keeps every byte size and statistic (possible only in uncompressed pages, e.g. swapping two
  values inside one row group) is not seen; any rewrite by a compressing writer is.
- **CSV** files: the SHA-256 of each file's bytes, streamed in 1 MiB chunks (there is no footer to use,
  and counting rows reads the whole file anyway).
- **In-memory** frames (Polars, pandas, Arrow): the data is brought to canonical Arrow types (string and
  binary kinds become large_string/large_binary, dictionaries are decoded, metadata is dropped), then hashed
  column by column in windows of 65,536 rows: the schema (names and types), the row count, each column's
  validity bits and its value bytes with nulls zeroed and string offsets rebased. So the same data gives the
  same digest however it is chunked, and a Polars and a pandas frame agree when their Arrow types agree.

A file and a frame holding the same rows get different digests (the file's is computed from its encoded
bytes), and ``source_type`` tells the two apart.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa

from duckml.clock import utcnow
from duckml.tracking.artifacts import resolve_run
from duckml.store.objects import file_sha256
from duckml.tracking.validation import check_text
from duckml.errors import InvalidInputError, NotFoundError

WINDOW_ROWS = 65_536
_CHUNK = 1 << 20
_PARQUET = (".parquet", ".pq", ".parq")
_CSV = (".csv", ".tsv", ".txt")
_COMPRESSED = (".gz", ".zst")


@dataclass(frozen=True, slots=True)
class Dataset:
    """A dataset as recorded in the ``datasets`` table."""

    dataset_id: str
    name: str
    digest: str
    source: str
    source_type: str
    schema: str
    row_count: int


# -- files --------------------------------------------------------------------------------------
def _file_kind(path: str) -> str | None:
    lower = path.lower()
    for suffix in _COMPRESSED:
        if lower.endswith(suffix):
            lower = lower[: -len(suffix)]
    if lower.endswith(_PARQUET):
        return "parquet"
    if lower.endswith(_CSV):
        return "csv"
    return None


def _expand(source: str) -> tuple[list[str], str]:
    """The files a path or glob names, sorted, and their one kind ("parquet" or "csv")."""
    if glob.has_magic(source):
        files = sorted(f for f in glob.glob(source, recursive=True) if os.path.isfile(f))
        if not files:
            raise NotFoundError(f"glob {source!r} matches no file; check the pattern")
    elif os.path.isfile(source):
        files = [source]
    elif os.path.isdir(source):
        raise InvalidInputError(f"{source!r} is a folder; give a file or a glob such as {source.rstrip('/')}/*.parquet")
    else:
        raise NotFoundError(f"dataset file {source!r} does not exist")
    kinds = {_file_kind(f) for f in files}
    if None in kinds or len(kinds) != 1:
        odd = next((f for f in files if _file_kind(f) is None), files[0])
        raise InvalidInputError(f"dataset {source!r} must be all Parquet (.parquet) or all CSV (.csv, .tsv) files; "
                                f"got {odd!r}")
    return files, kinds.pop()


def _parquet_footer(path: str) -> tuple[int, bytes]:
    with open(path, "rb") as handle:
        size = handle.seek(0, os.SEEK_END)
        if size < 12:
            raise InvalidInputError(f"{path!r} is too short to be a Parquet file")
        handle.seek(size - 8)
        tail = handle.read(8)
        if tail[4:] != b"PAR1":
            raise InvalidInputError(f"{path!r} is not a plain Parquet file (no PAR1 footer; encrypted files "
                                    "are not supported)")
        length = int.from_bytes(tail[:4], "little")
        if length > size - 12:
            raise InvalidInputError(f"{path!r} has a corrupt Parquet footer length {length}")
        handle.seek(size - 8 - length)
        return size, handle.read(length)


def _parquet_digest(files: list[str]) -> str:
    digest = hashlib.sha256(b"duckml-parquet-v1\0")
    for path in files:
        size, footer = _parquet_footer(path)
        digest.update(size.to_bytes(8, "little") + len(footer).to_bytes(8, "little"))
        digest.update(footer)
    return digest.hexdigest()


def _csv_digest(files: list[str]) -> str:
    digest = hashlib.sha256(b"duckml-csv-v1\0")
    for path in files:
        digest.update(os.path.getsize(path).to_bytes(8, "little") + bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()


def _describe_files(files: list[str], kind: str) -> tuple[list[dict], int]:
    import duckdb

    reader = "read_parquet" if kind == "parquet" else "read_csv"
    con = duckdb.connect()
    try:
        columns = con.execute(f"DESCRIBE SELECT * FROM {reader}(?, union_by_name = true)", [files]).fetchall()
        if kind == "parquet":
            rows = con.execute("SELECT coalesce(sum(num_rows), 0) FROM parquet_file_metadata(?)", [files]).fetchall()
        else:
            rows = con.execute(f"SELECT count(*) FROM {reader}(?, union_by_name = true)", [files]).fetchall()
    except duckdb.Error as e:
        raise InvalidInputError(f"dataset files {files[0]!r}… could not be read as {kind}: {e}") from e
    finally:
        con.close()
    return [{"name": c[0], "type": c[1]} for c in columns], int(rows[0][0])


def _default_file_name(source: str) -> str:
    if glob.has_magic(source):
        plain = [p for p in Path(source).parts if not glob.has_magic(p)]
        return plain[-1] if len(plain) > 1 else "dataset"
    name = Path(source).name
    for suffix in _COMPRESSED:
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return Path(name).stem or "dataset"


# -- in-memory frames ---------------------------------------------------------------------------
def _canonical_type(t: pa.DataType) -> pa.DataType:
    if pa.types.is_dictionary(t):
        return _canonical_type(t.value_type)
    if pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.large_string()
    if pa.types.is_binary(t) or pa.types.is_large_binary(t) or pa.types.is_binary_view(t):
        return pa.large_binary()
    if pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_list_view(t) or pa.types.is_large_list_view(t):
        return pa.large_list(pa.field(t.value_field.name, _canonical_type(t.value_type)))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _canonical_type(f.type), f.nullable) for f in t])
    return t


def _to_arrow(data) -> tuple[pa.Table, str]:
    # frames are recognised through sys.modules: a frame of a library means the library is loaded,
    # and `import duckml` stays free of polars/pandas import costs
    polars = sys.modules.get("polars")
    if polars is not None and isinstance(data, polars.DataFrame):
        return data.to_arrow(), "polars"
    if polars is not None and isinstance(data, polars.LazyFrame):
        raise InvalidInputError("log_input got a polars LazyFrame; call .collect() first (or log the source files)")
    if isinstance(data, pa.Table):
        return data, "arrow"
    if isinstance(data, pa.RecordBatch):
        return pa.Table.from_batches([data]), "arrow"
    pandas = sys.modules.get("pandas")
    if pandas is not None and isinstance(data, pandas.DataFrame):
        return pa.Table.from_pandas(data), "pandas"
    raise InvalidInputError(f"log_input cannot use a {type(data).__module__}.{type(data).__name__}; give a Parquet "
                            "or CSV path or glob, a polars or pandas DataFrame, or a pyarrow Table")


def canonical_table(table: pa.Table) -> pa.Table:
    """``table`` with canonical Arrow types and no metadata (what the in-memory digest hashes).

    >>> canonical_table(pa.table({"s": pa.array(["a"], pa.string())})).schema.types
    [DataType(large_string)]
    """
    fields = [pa.field(f.name, _canonical_type(f.type), f.nullable) for f in table.schema]
    return table.replace_schema_metadata(None).cast(pa.schema(fields))


def _filler(t: pa.DataType):
    if pa.types.is_large_string(t):
        return pa.scalar("", t)
    if pa.types.is_large_binary(t):
        return pa.scalar(b"", t)
    if pa.types.is_fixed_size_binary(t):
        return pa.scalar(b"\0" * t.byte_width, t)
    if pa.types.is_boolean(t):
        return pa.scalar(False)
    return pa.scalar(0, t)


def _byte_width(t: pa.DataType) -> int:
    """Bytes per value of a flat fixed-width type; 0 for anything else."""
    if pa.types.is_nested(t) or pa.types.is_boolean(t):
        return 0
    try:
        bits = t.bit_width
    except ValueError:  # variable-width or extension types
        return 0
    return bits // 8 if bits % 8 == 0 else 0


def _array_parts(array: pa.Array):
    """Byte strings that together identify the array's values, whatever its buffers' layout."""
    t, n = array.type, len(array)
    if pa.types.is_null(t):
        yield b"null"
        return
    if array.null_count:
        yield np.packbits(array.is_valid().to_numpy(zero_copy_only=False)).tobytes()
        try:
            array = array.fill_null(_filler(t))
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
            pass  # nested types keep their null slots: the fallback below copies them as they are
    buffers = array.buffers()
    if pa.types.is_boolean(t):
        yield np.packbits(array.to_numpy(zero_copy_only=False)).tobytes()
    elif pa.types.is_large_string(t) or pa.types.is_large_binary(t):
        offsets = np.frombuffer(buffers[1], dtype=np.int64, count=n + 1, offset=array.offset * 8)
        yield (offsets - offsets[0]).tobytes()
        yield buffers[2][int(offsets[0]):int(offsets[-1])] if buffers[2] is not None and n else b""
    elif (width := _byte_width(t)) and len(buffers) == 2:
        yield memoryview(buffers[1])[array.offset * width:(array.offset + n) * width]
    else:  # nested: a fresh compact copy serializes deterministically
        fresh = array.take(pa.array(np.arange(n, dtype=np.int64)))
        yield pa.RecordBatch.from_arrays([fresh], ["c"]).serialize()


def _frame_digest(table: pa.Table) -> str:
    digest = hashlib.sha256(b"duckml-arrow-v1\0")
    digest.update(json.dumps([[f.name, str(f.type)] for f in table.schema]).encode())
    digest.update(table.num_rows.to_bytes(8, "little"))
    for start in range(0, table.num_rows, WINDOW_ROWS):
        for column in table.columns:
            for part in _array_parts(column.slice(start, WINDOW_ROWS).combine_chunks()):
                digest.update(len(memoryview(part).cast("B")).to_bytes(8, "little"))
                digest.update(part)
    return digest.hexdigest()


def _describe_table(table: pa.Table) -> list[dict]:
    import duckdb

    con = duckdb.connect()
    try:
        con.register("_duckml_frame", table)
        columns = con.execute("DESCRIBE SELECT * FROM _duckml_frame").fetchall()
    finally:
        con.close()
    return [{"name": c[0], "type": c[1]} for c in columns]


# -- public -------------------------------------------------------------------------------------
def _source(data) -> tuple[str, list[str] | None, str, pa.Table | None]:
    """(source, files, source_type, canonical table): files for a path or glob, a table for a frame."""
    if isinstance(data, (str, os.PathLike)):
        source = os.path.abspath(os.path.expanduser(os.fspath(data)))
        files, kind = _expand(source)
        return source, files, kind, None
    table, source_type = _to_arrow(data)
    return "in-memory", None, source_type, canonical_table(table)


def _digest(files: list[str] | None, kind: str, table: pa.Table | None) -> str:
    if table is not None:
        return _frame_digest(table)
    return _parquet_digest(files) if kind == "parquet" else _csv_digest(files)


def compute_digest(data) -> str:
    """The content digest ``log_input`` records for ``data`` (see the module docstring for how).

    >>> compute_digest(pa.table({"x": [1, 2]})) == compute_digest(pa.table({"x": pa.array([1, 2])}))
    True
    """
    source, files, kind, table = _source(data)
    return _digest(files, kind, table)


def describe_dataset(data, name: str | None = None) -> Dataset:
    """Compute a dataset's digest, schema and row count without logging it.

    >>> describe_dataset(pa.table({"x": [1, 2]})).row_count
    2
    """
    if name is not None and (not isinstance(name, str) or not name.strip()):
        raise InvalidInputError(f"dataset name must be a non-empty string, got {name!r}")
    source, files, source_type, table = _source(data)
    digest = _digest(files, source_type, table)
    if table is None:
        schema, rows = _describe_files(files, source_type)
        default_name = _default_file_name(source)
    else:
        schema, rows, default_name = _describe_table(table), table.num_rows, "dataset"
    name = default_name if name is None else name
    dataset_id = hashlib.sha256(f"{name}\0{digest}\0{source}".encode()).hexdigest()[:32]
    return Dataset(dataset_id, name, digest, source, source_type, json.dumps(schema), rows)


def log_input(data, name: str | None = None, context: str = "training", run_id: str | None = None) -> Dataset:
    """Record that a run used ``data`` (a Parquet/CSV path or glob, or a Polars/pandas/Arrow frame).

    The same name, digest and source give one ``datasets`` row however many runs log it.

    >>> import duckml, tempfile, os
    >>> folder = tempfile.mkdtemp(); _ = duckml.set_store(os.path.join(folder, "s.duckdb"))
    >>> import pyarrow.parquet as pq
    >>> pq.write_table(pa.table({"x": [1, 2, 3]}), os.path.join(folder, "train.parquet"))
    >>> with duckml.start_run():
    ...     ds = duckml.log_input(os.path.join(folder, "train.parquet"), context="training")
    >>> ds.name, ds.source_type, ds.row_count
    ('train', 'parquet', 3)
    """
    if not isinstance(context, str) or not context.strip():
        raise InvalidInputError(f"dataset context must be a non-empty string such as 'training', got {context!r}")
    check_text(context, "dataset context")
    dataset = describe_dataset(data, name)
    for field in ("name", "source", "schema", "digest"):
        if isinstance(getattr(dataset, field, None), str):
            check_text(getattr(dataset, field), f"dataset {field}")
    store, run_id = resolve_run(run_id)
    now = utcnow()
    store.journal.insert("datasets", {
        "dataset_id": dataset.dataset_id, "name": dataset.name, "digest": dataset.digest, "source": dataset.source,
        "source_type": dataset.source_type, "schema": dataset.schema, "row_count": dataset.row_count,
        "created_at": now,
    })
    store.journal.insert("run_inputs", {"run_id": run_id, "dataset_id": dataset.dataset_id, "context": context,
                                        "created_at": now})
    return dataset


def get_run_inputs(run_id: str) -> "polars.DataFrame":
    """The datasets a run used: dataset_id, name, digest, source, source_type, schema, row_count, context,
    created_at, and (for inputs imported from MLflow) the dataset's whole ``profile`` and the input's other ``tags``.

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> with duckml.start_run() as run:
    ...     _ = duckml.log_input(pa.table({"x": [1, 2]}), name="train")
    >>> get_run_inputs(run.info.run_id)["name"].to_list()
    ['train']
    """
    from duckml.store import get_store

    with get_store().read() as con:
        return con.execute(
            """SELECT d.dataset_id, d.name, d.digest, d.source, d.source_type, d.schema, d.row_count,
                      ri.context, ri.created_at, p.profile,
                      coalesce((SELECT map_from_entries(list({'k': t.key, 'v': t.value} ORDER BY t.key))
                                FROM run_input_tags t WHERE t.run_id = ri.run_id AND t.dataset_id = ri.dataset_id
                                  AND t.context = ri.context), MAP {}::MAP(VARCHAR, VARCHAR)) AS tags
               FROM run_inputs ri JOIN datasets d USING (dataset_id)
               LEFT JOIN dataset_profiles p USING (dataset_id)
               WHERE ri.run_id = ? ORDER BY ri.created_at, d.name, ri.context""", [run_id]).pl()


def get_dataset_runs(name_or_digest: str) -> "polars.DataFrame":
    """The active runs that used a dataset, found by name, dataset_id, digest or a digest prefix (8+ chars).

    >>> import duckml, tempfile, os
    >>> _ = duckml.set_store(os.path.join(tempfile.mkdtemp(), "s.duckdb"))
    >>> for _ in range(2):
    ...     with duckml.start_run():
    ...         _ = duckml.log_input(pa.table({"x": [1, 2]}), name="train")
    >>> get_dataset_runs("train").height
    2
    """
    from duckml.store import get_store

    if not isinstance(name_or_digest, str) or not name_or_digest:
        raise InvalidInputError(f"give a dataset name or digest, got {name_or_digest!r}")
    prefix = name_or_digest.lower() if len(name_or_digest) >= 8 else None
    with get_store().read() as con:
        return con.execute(
            """SELECT * FROM dataset_lineage
               WHERE dataset_name = ? OR dataset_id = ? OR digest = ? OR starts_with(digest, ?)
               ORDER BY start_time, run_id, context""",
            [name_or_digest, name_or_digest, name_or_digest, prefix]).pl()

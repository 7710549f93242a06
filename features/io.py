"""Reading input tables with one clear typed error when that fails.

Files: delimited text (.csv, .tsv, .txt; comma, semicolon, tab or pipe, told apart from the first
lines), JSON (.json) and JSON Lines (.jsonl, .ndjson), each optionally .gz/.bz2/.xz/.zip, and
Parquet. Databases: any SQLAlchemy URL (sqlite:///shop.db, postgresql://user@host/db) with a
table name or a query. Every frame carries `attrs["source"]`: where it came from and how it was read.
"""

from __future__ import annotations

import bz2
import codecs
import contextlib
import csv
import difflib
import gzip
import io
import json
import logging
import lzma
import re
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterator
from importlib.util import find_spec
from pathlib import Path
from typing import IO, Any

import pandas as pd

from backends.errors import ConfigError, DataError

log = logging.getLogger(__name__)

_COMPRESSIONS = {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}
_TEXT_FORMATS = {".csv": "csv", ".tsv": "csv", ".txt": "csv", ".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl"}
_PARQUET = (".parquet", ".pq")
SUPPORTED = (
    ".csv, .tsv, .txt (comma, semicolon, tab or pipe separated), .json, .jsonl or .ndjson, each optionally compressed as .gz, .bz2, .xz "
    "or .zip, .parquet or .pq, or a database URL such as sqlite:///shop.db or postgresql://user@host/dbname"
)
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
# schemes that name a remote file rather than a database: read_table does not download
_REMOTE_SCHEMES = {"file", "http", "https", "ftp", "sftp", "s3", "s3a", "gs", "gcs", "az", "abfs", "abfss", "hdfs", "webhdfs"}
_URL = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_PASSWORD = re.compile(r"(://[^/:@]*):[^/@]*@")

_SNIFF_RECORDS = 100  # records after the header that must agree on the delimiter
_CHUNK = 1 << 18
_MIN_SAMPLE = 1 << 20  # enough text for ~100 ordinary lines ...
_MAX_SAMPLE = 1 << 24  # ... but keep reading a very wide file until its header and one row are in
_MOSTLY = 0.9  # share of sampled lines that may carry the header's field count when none fits all


def is_database_url(source: str | Path) -> bool:
    """True when `source` is a database URL (`dialect[+driver]://...`) rather than a file path."""
    if not isinstance(source, str):
        return False  # a Path collapses '://' to ':/', so it can only name a file
    match = _URL.match(source.strip())
    return match is not None and match.group(1).split("+")[0].lower() not in _REMOTE_SCHEMES


def read_table(source: str | Path, *, table: str | None = None, query: str | None = None) -> pd.DataFrame:
    """Read a file (delimited text, JSON, JSON Lines, Parquet) or a database table/query into a DataFrame.

    `table` or `query` (exactly one) goes with a database URL and never with a file; `frame.attrs["source"]` says how it was read.
    """
    if is_database_url(source):
        return _read_database(str(source).strip(), table, query)
    if isinstance(source, str) and _URL.match(source.strip()):
        raise DataError(f"{_redact(source)!r} is a remote address; download the file first and pass its local path, or pass a database URL.")
    p = Path(source)
    if table is not None or query is not None:
        given = "table= (--table)" if table is not None else "query= (--query)"
        raise ConfigError(f"{given} applies only to a database URL such as sqlite:///shop.db, and {str(p)!r} is a file path; drop it to read the file.")
    if not p.exists():
        raise DataError(f"File {str(p)!r} does not exist; check the path.")
    if not p.is_file():
        raise DataError(f"{str(p)!r} is not a file; pass one of {SUPPORTED}.")
    fmt, compression = _file_kind(p)
    if fmt is None:
        raise DataError(f"Unsupported file type {p.name!r}; use {SUPPORTED}.")
    source_info: dict[str, Any] = {"path": str(p), "format": fmt, "compression": compression}
    try:
        if fmt == "csv":
            frame = _read_delimited(p, compression, source_info)
        elif fmt == "json":
            frame = _read_json(p, compression)
        elif fmt == "jsonl":
            frame = _read_json_lines(p, compression)
        else:
            frame = _read_parquet(p)
    except DataError:
        raise
    except PermissionError:
        raise DataError(f"Cannot read {str(p)!r}: permission denied; make the file readable.") from None
    except (EOFError, zlib.error, lzma.LZMAError, zipfile.BadZipFile, OSError) as exc:
        if compression is None:  # a plain read error (a vanished file, a device error)
            raise DataError(f"Could not read {str(p)!r} ({_one_line(exc)}); check the file.") from None
        raise DataError(f"Could not read {str(p)!r}: it is not valid {compression} data ({_one_line(exc)}); check that the file is complete.") from None
    except Exception as exc:  # every other reader error becomes one sentence for the user
        raise DataError(f"Could not read {str(p)!r} ({type(exc).__name__}: {_one_line(exc)}); check that it is a valid {fmt} file.") from None
    return _finish(frame, source_info)


def _finish(frame: pd.DataFrame, source_info: dict[str, Any]) -> pd.DataFrame:
    """Attach and log where the frame came from."""
    frame.attrs["source"] = source_info
    details = ", ".join(f"{k}={v!r}" for k, v in source_info.items() if k not in ("path", "format") and v is not None)
    log.info("read %s as %s (%s): %d rows x %d columns", source_info["path"], source_info["format"], details or "defaults", *frame.shape)
    return frame


def _file_kind(p: Path) -> tuple[str | None, str | None]:
    """(format, compression) from the file name's suffixes; format None when unsupported."""
    suffixes = [s.lower() for s in p.suffixes]
    compression = _COMPRESSIONS.get(suffixes[-1]) if suffixes else None
    base = suffixes[-2] if compression and len(suffixes) >= 2 else (suffixes[-1] if suffixes and not compression else None)
    if base in _TEXT_FORMATS:
        return _TEXT_FORMATS[base], compression
    if base in _PARQUET and compression is None:
        return "parquet", None
    return None, compression


@contextlib.contextmanager
def _open_binary(p: Path, compression: str | None) -> Iterator[IO[bytes]]:
    """The file's decompressed bytes; a .zip must hold exactly one file (macOS metadata aside)."""
    with contextlib.ExitStack() as stack:
        if compression == "gzip":
            stream: IO[bytes] = stack.enter_context(gzip.open(p, "rb"))
        elif compression == "bz2":
            stream = stack.enter_context(bz2.open(p, "rb"))
        elif compression == "xz":
            stream = stack.enter_context(lzma.open(p, "rb"))
        elif compression == "zip":
            archive = stack.enter_context(zipfile.ZipFile(p))
            members = [m for m in archive.infolist() if not m.is_dir() and not m.filename.startswith("__MACOSX/") and Path(m.filename).name != ".DS_Store"]
            if len(members) != 1:
                names = _names([m.filename for m in members])
                raise DataError(f"{str(p)!r} holds {len(members)} files ({names or 'none'}); a .zip must hold exactly one table: unpack it and pass one file.")
            stream = stack.enter_context(archive.open(members[0]))
        else:
            stream = stack.enter_context(open(p, "rb"))
        yield stream


# ---------------------------------------------------------------------------------------------- delimited text


def _read_delimited(p: Path, compression: str | None, source_info: dict[str, Any]) -> pd.DataFrame:
    """Sniff encoding and delimiter from the head, refuse duplicate header names, then let pandas read it all."""
    with _open_binary(p, compression) as stream:
        head, complete = _head(stream)
    if not head.strip(b" \t\r\n\x00\xef\xbb\xbf\xff\xfe"):
        raise DataError(f"{str(p)!r} is empty; pass a file with a header line and at least one row.")
    encoding = _encoding(head, complete)
    if encoding in ("cp1252", "latin-1"):
        log.warning("%s is not UTF-8 text; reading it as %s", p, encoding)
    sample = codecs.getincrementaldecoder(encoding)().decode(head, final=complete)
    default = "\t" if ".tsv" in [s.lower() for s in p.suffixes[-2:]] else ","  # a one-column file's nominal delimiter
    delimiter = _sniff_delimiter(sample, complete, default, str(p))
    header = next(csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter), [])
    duplicated = [name for name, n in Counter(header).items() if n > 1 and name.strip()]
    if duplicated:
        where = "; ".join(f"{name!r} (columns {', '.join(str(i + 1) for i, h in enumerate(header) if h == name)})" for name in duplicated)
        raise DataError(f"{str(p)!r} has duplicate column names in its header: {where}; rename them so every column name is unique.")
    source_info.update(delimiter=delimiter, encoding=encoding)
    try:
        with _open_binary(p, compression) as stream:
            return pd.read_csv(stream, sep=delimiter, encoding=encoding, low_memory=False)
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(p)!r} is not valid {encoding} text past its first lines ({exc.reason}); re-save it as UTF-8.") from None
    except pd.errors.ParserError as exc:
        message = _one_line(exc).removeprefix("Error tokenizing data. C error: ")
        raise DataError(f"Could not parse {str(p)!r} as {DELIMITER_NAMES[delimiter]}-separated text ({message}); fix that line or quote its fields.") from None


def _head(stream: IO[bytes]) -> tuple[bytes, bool]:
    """The first bytes of the stream (about a hundred lines) and whether that is all of it."""
    chunks: list[bytes] = []
    size = lines = 0
    while True:
        chunk = stream.read(_CHUNK)
        if not chunk:
            return b"".join(chunks), True
        chunks.append(chunk)
        size += len(chunk)
        lines += chunk.count(b"\n")
        if lines > _SNIFF_RECORDS + 1 or (size >= _MIN_SAMPLE and lines >= 2) or size >= _MAX_SAMPLE:
            return b"".join(chunks), False


def _encoding(head: bytes, complete: bool) -> str:
    """The text encoding: a byte-order mark wins, then UTF-8, then the Windows code page most spreadsheets write."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):  # before UTF-16: its LE mark starts the same way
        return "utf-32"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):  # Excel's "Unicode Text" export
        return "utf-16"
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=complete)
        return "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        head.decode("cp1252")
        return "cp1252"
    except UnicodeDecodeError:
        return "latin-1"  # decodes any byte


def _field_counts(sample: str, delimiter: str, complete: bool) -> list[int]:
    """Fields per record (header first) of a quote-aware parse of the sample; blank lines skipped."""
    counts: list[int] = []
    cut_short = False
    try:
        for row in csv.reader(io.StringIO(sample, newline=""), delimiter=delimiter, quotechar='"', doublequote=True, strict=False):
            if not row or (len(row) == 1 and not row[0].strip()):
                continue
            counts.append(len(row))
            if len(counts) > _SNIFF_RECORDS:
                cut_short = True
                break
    except csv.Error:
        cut_short = True  # a field over csv's size limit (a stray quote under the wrong delimiter): judge on what came before
    if not complete and not cut_short and len(counts) > 1:
        counts.pop()  # the sample ends mid-record
    return counts


def _sniff_delimiter(sample: str, complete: bool, default: str, shown: str) -> str:
    """The one candidate delimiter on which the header and the first lines agree; DataError when none or several do."""
    counts = {d: _field_counts(sample, d, complete) for d in DELIMITER_NAMES}
    consistent, mostly = [], []
    for d, c in counts.items():
        if not c or c[0] < 2:
            continue
        rows = c[1:]
        agree = sum(n == c[0] for n in rows)
        if agree == len(rows):
            consistent.append(d)
        elif agree >= _MOSTLY * len(rows):
            mostly.append(d)
    if len(consistent) == 1:
        return consistent[0]
    if len(consistent) > 1:
        both = " and ".join(f"{DELIMITER_NAMES[d]} ({counts[d][0]} fields)" for d in consistent)
        raise DataError(
            f"Cannot tell the delimiter of {shown!r}: its first lines split evenly on {both}; "
            "quote the fields that contain the other character, or re-save it as a comma-separated file with quoted text."
        )
    if len(mostly) == 1:
        d = mostly[0]
        log.warning("%s: some of the first lines do not have the header's %d %s-separated fields", shown, counts[d][0], DELIMITER_NAMES[d])
        return d
    if all(max(c, default=1) <= 1 for c in counts.values()):
        return default  # one column: no candidate occurs outside quotes
    for d, c in counts.items():
        if len(c) > 1 and all(n == c[0] + 1 for n in c[1:]):  # R's write.table and some exports leave the row-name column unnamed
            raise DataError(
                f"{shown!r} has one {DELIMITER_NAMES[d]}-separated field more on every line than in its header ({c[0]}); "
                "add a name for the first (row name) column to the header."
            )
    seen = "; ".join(
        f"{DELIMITER_NAMES[d]}: header {c[0]}, lines {min(c[1:], default=c[0])} to {max(c[1:], default=c[0])}"
        for d, c in counts.items()
        if max(c, default=1) > 1
    )
    raise DataError(
        f"Cannot tell the delimiter of {shown!r}: with none of comma, semicolon, tab or pipe do its first lines have the header's number of fields "
        f"({seen}); make every line have as many fields as the header and quote fields that contain the delimiter."
    )


# ---------------------------------------------------------------------------------------------- JSON


class _DuplicateKey(ValueError):
    pass


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """json's object hook: the plain json module keeps the last of two equal keys silently."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _DuplicateKey(next(k for k, n in Counter(k for k, _ in pairs).items() if n > 1))
    return obj


def _read_json(p: Path, compression: str | None) -> pd.DataFrame:
    """A JSON list of records, or pandas' orient='columns' / 'split' forms, or an object of column lists."""
    with _open_binary(p, compression) as stream:
        raw = stream.read()
    if not raw.strip():
        raise DataError(f"{str(p)!r} is empty; pass a JSON list of records such as [{{\"a\": 1}}, {{\"a\": 2}}].")
    try:
        obj = json.loads(raw, object_pairs_hook=_unique_keys)  # bytes: json detects UTF-8/16/32 and a byte-order mark
    except json.JSONDecodeError as exc:
        # "Extra data" after a first complete value is the mark of JSON Lines saved as .json
        fix = "if it holds one JSON object per line, name it .jsonl" if exc.msg == "Extra data" else "fix the file there"
        raise DataError(f"{str(p)!r} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}; {fix}.") from None
    except UnicodeDecodeError as exc:
        raise DataError(f"{str(p)!r} is not UTF-8 text ({exc.reason}); re-save it as UTF-8 JSON.") from None
    except _DuplicateKey as exc:
        raise DataError(f"{str(p)!r} has an object with the key {exc.args[0]!r} twice; make every key of an object unique.") from None
    return _frame_from_json(obj, str(p))


def _frame_from_json(obj: Any, shown: str) -> pd.DataFrame:
    """The table a parsed JSON document describes."""
    if isinstance(obj, list):
        for i, record in enumerate(obj):
            if not isinstance(record, dict):
                raise DataError(f"{shown!r} is a list whose item {i + 1} is {_json_kind(record)}, not an object; each item must be a record {{column: value}}.")
        return pd.DataFrame(obj)
    if isinstance(obj, dict):
        values = list(obj.values())
        if set(obj) <= {"columns", "data", "index"} and isinstance(obj.get("columns"), list) and isinstance(obj.get("data"), list):
            columns = obj["columns"]  # pandas' orient="split"
            duplicated = [c for c, n in Counter(map(str, columns)).items() if n > 1]
            if duplicated:
                raise DataError(f"{shown!r} lists the columns {_names(duplicated)} more than once; make every column name unique.")
            if any(not isinstance(row, list) or len(row) != len(columns) for row in obj["data"]):
                raise DataError(f"{shown!r} has 'columns' and 'data', but not every row of 'data' is a list of {len(columns)} values; fix the file.")
            return pd.DataFrame(obj["data"], columns=columns)
        if values and all(isinstance(v, dict) for v in values):
            return pd.DataFrame(obj).reset_index(drop=True)  # pandas' orient="columns": {column: {row: value}}
        if values and all(isinstance(v, list) for v in values):
            if len({len(v) for v in values}) > 1:
                raise DataError(f"{shown!r} is an object of column lists of different lengths; give every column the same number of values.")
            return pd.DataFrame(obj)
    raise DataError(f"{shown!r} holds {_json_kind(obj)}; a JSON table is a list of records such as [{{\"a\": 1}}] or an object {{column: {{row: value}}}}.")


def _json_kind(value: Any) -> str:
    """How an error names a JSON value's type."""
    if isinstance(value, dict):
        return "an object" + (" of mixed values" if value else " with no keys")
    return {list: "a list", str: "a string", bool: "a boolean", int: "a number", float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _read_json_lines(p: Path, compression: str | None) -> pd.DataFrame:
    """One JSON object per line; blank lines skipped; the first bad line is named."""
    records: list[dict[str, Any]] = []
    with _open_binary(p, compression) as stream:
        for number, raw in enumerate(stream, 1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").strip()
            except UnicodeDecodeError as exc:
                raise DataError(f"{str(p)!r} line {number} is not UTF-8 text ({exc.reason}); re-save the file as UTF-8.") from None
            if not line:
                continue
            try:
                record = json.loads(line, object_pairs_hook=_unique_keys)
            except json.JSONDecodeError as exc:
                raise DataError(f"{str(p)!r} line {number} is not valid JSON ({exc.msg} at column {exc.colno}); each line must hold one JSON object.") from None
            except _DuplicateKey as exc:
                raise DataError(f"{str(p)!r} line {number} has the key {exc.args[0]!r} twice; make every key of a record unique.") from None
            if not isinstance(record, dict):
                raise DataError(f"{str(p)!r} line {number} holds {_json_kind(record)}, not an object; each line must be a record {{column: value}}.")
            records.append(record)
    if not records:
        raise DataError(f"{str(p)!r} holds no records; pass a file with one JSON object per line.")
    return pd.DataFrame(records)


# ---------------------------------------------------------------------------------------------- Parquet


def _read_parquet(p: Path) -> pd.DataFrame:
    """Parquet through pyarrow, refusing duplicate column names (pyarrow allows them)."""
    import pyarrow.parquet as pq

    try:
        names = pq.read_schema(p).names
    except Exception as exc:  # pyarrow's ArrowInvalid and friends: not a Parquet file
        raise DataError(f"{str(p)!r} is not a valid Parquet file ({_one_line(exc)}); check that the file is complete.") from None
    duplicated = [name for name, n in Counter(names).items() if n > 1]
    if duplicated:
        raise DataError(f"{str(p)!r} has duplicate column names {_names(duplicated)}; rename them so every column name is unique.")
    return pd.read_parquet(p)


# ---------------------------------------------------------------------------------------------- databases


def _read_database(source: str, table: str | None, query: str | None) -> pd.DataFrame:
    """A table or a query's result through SQLAlchemy; the engine is disposed afterwards."""
    shown = _redact(source)
    if table is None and query is None:
        raise ConfigError(f"{shown!r} is a database: pass table= (--table) to read a table or query= (--query) to run a SELECT.")
    if table is not None and query is not None:
        raise ConfigError("Pass either table= (--table) or query= (--query) with a database URL, not both.")
    if (table is not None and not table.strip()) or (query is not None and not query.strip()):
        raise ConfigError(f"The {'table= (--table)' if table is not None else 'query= (--query)'} given is empty; name a table or write a SELECT.")

    import sqlalchemy as sa
    from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, SQLAlchemyError

    url = _database_url(source, shown)
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = 10  # an unreachable host fails in seconds, not after the OS's TCP timeout
    try:
        engine = sa.create_engine(url, connect_args=connect_args, poolclass=sa.pool.NullPool)
    except (NoSuchModuleError, ModuleNotFoundError, ImportError) as exc:
        raise ConfigError(
            f"No database driver for {url.drivername!r} ({_one_line(exc)}); install it (PostgreSQL: pip install 'psycopg[binary]', then postgresql+psycopg://...)."
        ) from None
    except ArgumentError as exc:
        raise ConfigError(f"{shown!r} is not a usable database URL ({_one_line(exc)}); fix the URL.") from None
    source_info: dict[str, Any] = {"path": shown, "format": "sql", "table": table} if table is not None else {"path": shown, "format": "sql", "query": query}
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise DataError(f"Cannot connect to the database {shown!r}: {_db_message(exc)}; check the host, port, database name and credentials.") from None
        with conn:
            if table is not None:
                statement: Any = sa.select(sa.literal_column("*")).select_from(_resolve_table(conn, table.strip(), shown))
            else:
                statement = query  # a string goes to the driver as written: no ':name' binds
            try:
                # no_parameters: cursor.execute(sql) with no parameter list, so psycopg and MySQL drivers leave '%' in LIKE 'a%' alone
                frame = pd.read_sql_query(statement, conn.execution_options(no_parameters=True) if query is not None else conn)
            except DBAPIError as exc:
                what = f"Reading table {table!r}" if table is not None else "The query"
                raise DataError(f"{what} failed on {shown!r}: {_db_message(exc)}; fix the SQL.") from None
            except SQLAlchemyError as exc:  # e.g. a statement that returns no rows (an INSERT, a CREATE)
                raise DataError(f"The query on {shown!r} gave no table ({_one_line(exc)}); pass a SELECT.") from None
    finally:
        engine.dispose()
    return _finish(frame, source_info)


def _database_url(source: str, shown: str) -> Any:
    """The parsed URL, with plain postgresql:// routed to psycopg 3 when psycopg2 (SQLAlchemy's default) is absent; a SQLite file must exist."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        url = make_url(source)
    except (ArgumentError, ValueError) as exc:
        raise ConfigError(f"{shown!r} is not a valid database URL ({_one_line(exc)}); write it like sqlite:///shop.db or postgresql://user@host/db.") from None
    dialect, _, driver = url.drivername.partition("+")
    if dialect == "postgres":  # Heroku-style spelling that SQLAlchemy no longer accepts
        dialect = "postgresql"
        url = url.set(drivername="postgresql" + (f"+{driver}" if driver else ""))
    if dialect == "postgresql" and not driver and find_spec("psycopg2") is None and find_spec("psycopg") is not None:
        url = url.set(drivername="postgresql+psycopg")
    if dialect == "sqlite":
        database = url.database or ""
        if database.startswith("file:"):  # sqlite URI filename (with ?uri=true)
            database = database[5:].split("?", 1)[0]
        # SQLite creates a missing file on connect: check first so a typo is an error, not an empty database
        if database and database != ":memory:" and not Path(database).is_file():
            raise DataError(
                f"SQLite database file {database!r} does not exist (looked at {str(Path(database).absolute())!r}); "
                "check the path: sqlite:///relative/shop.db or sqlite:////absolute/shop.db."
            )
    return url


def _resolve_table(conn: Any, table: str, shown: str) -> Any:
    """A quoted `sqlalchemy.table` for the name (or schema.name); DataError listing the tables when it is not there."""
    import sqlalchemy as sa
    from sqlalchemy.exc import SQLAlchemyError

    try:
        inspector = sa.inspect(conn)
        names = list(inspector.get_table_names()) + list(inspector.get_view_names())
    except SQLAlchemyError as exc:
        raise DataError(f"Cannot list the tables of {shown!r}: {_db_message(exc)}; check that it is a database you may read.") from None
    if table in names:
        return sa.table(table)
    schema, dot, name = table.partition(".")
    if dot:
        with contextlib.suppress(SQLAlchemyError):  # an unknown schema is just "not found"
            if inspector.has_table(name, schema=schema):
                return sa.table(name, schema=schema)
    if not names:
        raise DataError(f"Table {table!r} is not in {shown!r}, which has no tables; check the URL's database name.")
    close = difflib.get_close_matches(table, names, n=1) or [n for n in names if n.lower() == table.lower()]
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise DataError(f"Table {table!r} is not in {shown!r}{hint}; its tables are {_names(sorted(names), 30)}.")


def _db_message(exc: BaseException) -> str:
    """The database's own message, first line, without SQLAlchemy's wrapping."""
    return _one_line(getattr(exc, "orig", None) or exc)


# ---------------------------------------------------------------------------------------------- helpers


def _redact(source: str) -> str:
    """The URL with any password replaced, fit for messages, logs and attrs."""
    return _PASSWORD.sub(r"\1:***@", str(source))


def _one_line(exc: BaseException | str) -> str:
    """The first non-empty line of an error message, without a trailing period."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__).rstrip(".")


def _names(names: list[str], limit: int = 10) -> str:
    """Quoted names for a message, at most `limit` plus a count of the rest."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")

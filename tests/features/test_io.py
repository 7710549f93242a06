"""read_table on real files in tmp_path and real databases: SQLite files and a throwaway PostgreSQL server."""

from __future__ import annotations

import bz2
import gzip
import json
import logging
import lzma
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from backends.errors import ConfigError, DataError
from features.io import is_database_url, read_table

ROWS = [["1", "ann", "3.5"], ["2", "bob", "4.0"], ["3", "cy", "1.25"]]


def _write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    data = text.encode(encoding)
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix)
    if opener is not None:
        with opener(path, "wb") as f:
            f.write(data)
    elif path.suffix == ".zip":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr(path.stem, data)
    else:
        path.write_bytes(data)
    return path


def _delimited(delimiter: str) -> str:
    return "\n".join(delimiter.join(r) for r in [["id", "name", "score"], *ROWS]) + "\n"


@pytest.mark.parametrize(
    "name, delimiter",
    [
        ("comma.csv", ","), ("semi.csv", ";"), ("tab.tsv", "\t"), ("pipe.txt", "|"),
        ("semi.csv.gz", ";"), ("tab.tsv.bz2", "\t"), ("pipe.txt.xz", "|"), ("comma.csv.zip", ","), ("semi.txt.gz", ";"),
    ],
)
def test_delimiter_detected_and_recorded(tmp_path: Path, name: str, delimiter: str, caplog: pytest.LogCaptureFixture) -> None:
    path = _write(tmp_path / name, _delimited(delimiter))
    with caplog.at_level(logging.INFO, logger="features.io"):
        frame = read_table(path)
    assert list(frame.columns) == ["id", "name", "score"]
    assert frame["name"].tolist() == ["ann", "bob", "cy"]
    assert frame["score"].tolist() == [3.5, 4.0, 1.25]
    source = frame.attrs["source"]
    assert source["path"] == str(path) and source["format"] == "csv" and source["delimiter"] == delimiter
    assert source["compression"] == {".gz": "gzip", ".bz2": "bz2", ".xz": "xz", ".zip": "zip"}.get(path.suffix)
    assert any(repr(delimiter) in r.getMessage() and str(path) in r.getMessage() for r in caplog.records)


def test_quoted_semicolons_stay_comma(tmp_path: Path) -> None:
    text = 'id,comment,price\n1,"red; large; on sale",3\n2,"blue;small",4\n3,"green; ok",5\n'
    frame = read_table(_write(tmp_path / "shop.csv", text))
    assert frame.attrs["source"]["delimiter"] == ","
    assert frame["comment"].tolist() == ["red; large; on sale", "blue;small", "green; ok"]


def test_semicolon_file_with_decimal_commas(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "eu.csv", "name;price\nfoo;1,5\nbar;2\nbaz;3,25\n"))
    assert frame.attrs["source"]["delimiter"] == ";"
    assert list(frame.columns) == ["name", "price"]


def test_quoted_newlines_and_crlf(tmp_path: Path) -> None:
    text = 'id|note\r\n1|"line one\r\nline two | still note"\r\n2|plain\r\n'
    frame = read_table(_write(tmp_path / "notes.txt", text))
    assert frame.attrs["source"]["delimiter"] == "|"
    assert frame["note"].tolist() == ["line one\r\nline two | still note", "plain"]


def test_one_column_file(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "ids.csv", 'city\nParis\n"Washington, D.C."\nRome\n'))
    assert list(frame.columns) == ["city"] and len(frame) == 3
    assert frame.attrs["source"]["delimiter"] == ","
    assert read_table(_write(tmp_path / "ids.tsv", "city\nParis\n")).attrs["source"]["delimiter"] == "\t"


def test_long_file_sniffs_from_the_head(tmp_path: Path) -> None:
    rows = "".join(f"{i};name {i};{i * 0.5}\n" for i in range(20000))
    frame = read_table(_write(tmp_path / "long.csv.gz", "id;name;value\n" + rows))
    assert frame.shape == (20000, 3) and frame.attrs["source"]["delimiter"] == ";"


def test_bom_and_windows_encodings(tmp_path: Path) -> None:
    frame = read_table(_write(tmp_path / "bom.csv", "\ufeffid;name\n1;Zoë\n"))
    assert list(frame.columns) == ["id", "name"] and frame.attrs["source"]["encoding"] == "utf-8-sig"
    frame = read_table(_write(tmp_path / "excel.txt", "id\tname\n1\tZoë\n", encoding="utf-16"))
    assert frame["name"].tolist() == ["Zoë"] and frame.attrs["source"]["delimiter"] == "\t"
    frame = read_table(_write(tmp_path / "cp.csv", "id;name\n1;Zoë €\n", encoding="cp1252"))
    assert frame["name"].tolist() == ["Zoë €"] and frame.attrs["source"]["encoding"] == "cp1252"


def test_lines_that_disagree_are_refused(tmp_path: Path) -> None:
    text = "a,b;c\n1;2,3,4\n5|6\n7,8;9;10\n"
    with pytest.raises(DataError, match="Cannot tell the delimiter") as err:
        read_table(_write(tmp_path / "mess.csv", text))
    assert "Traceback" not in str(err.value) and "\n" not in str(err.value)


def test_unnamed_row_name_column_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="one semicolon-separated field more on every line than in its header"):
        read_table(_write(tmp_path / "rnames.csv", "a;b\nr1;1;2\nr2;3;4\n"))


def test_two_plausible_delimiters_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="comma .* and semicolon"):
        read_table(_write(tmp_path / "both.csv", "a,b;c\n1,2;3\n4,5;6\n"))


def test_a_few_ragged_lines_still_read(tmp_path: Path) -> None:
    rows = "".join(f"{i};x;{i}\n" for i in range(30)) + "99;short\n"
    frame = read_table(_write(tmp_path / "ragged.csv", "id;name;n\n" + rows))
    assert frame.attrs["source"]["delimiter"] == ";" and len(frame) == 31


def test_bad_line_later_is_a_data_error(tmp_path: Path) -> None:
    rows = "".join(f"{i},x\n" for i in range(300)) + "1,2,3,4\n"
    with pytest.raises(DataError, match="comma-separated.*line 302"):
        read_table(_write(tmp_path / "late.csv", "id,name\n" + rows))


def test_duplicate_header_names_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"duplicate column names.*'id' \(columns 1, 5\); 'price' \(columns 2, 4\)"):
        read_table(_write(tmp_path / "dup.csv.gz", "id;price;name;price;id\n1;2;x;3;4\n"))


def test_empty_and_broken_compressed_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is empty"):
        read_table(_write(tmp_path / "empty.csv", ""))
    (tmp_path / "fake.csv.gz").write_text("id,name\n1,x\n")
    with pytest.raises(DataError, match="not valid gzip data"):
        read_table(tmp_path / "fake.csv.gz")
    with zipfile.ZipFile(tmp_path / "two.csv.zip", "w") as z:
        z.writestr("a.csv", "a\n1\n")
        z.writestr("b.csv", "b\n2\n")
    with pytest.raises(DataError, match="holds 2 files"):
        read_table(tmp_path / "two.csv.zip")


def test_unsupported_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "book.xlsx").write_bytes(b"PK")
    every_kind = r"\.csv.*\.tsv.*\.txt.*\.json.*\.jsonl.*\.ndjson.*\.gz.*\.bz2.*\.xz.*\.zip.*\.parquet.*\.pq.*sqlite"
    with pytest.raises(DataError, match=r"Unsupported file type 'book.xlsx'.*" + every_kind):
        read_table(tmp_path / "book.xlsx")
    with pytest.raises(DataError, match="does not exist"):
        read_table(tmp_path / "nope.csv")
    with pytest.raises(DataError, match="not a file"):
        read_table(tmp_path)
    with pytest.raises(DataError, match="remote address"):
        read_table("https://example.com/data.csv")


def test_parquet_reads_and_refuses_duplicates(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}).to_parquet(tmp_path / "t.parquet")
    frame = read_table(tmp_path / "t.parquet")
    assert list(frame.columns) == ["a", "b"] and frame.attrs["source"]["format"] == "parquet"
    pq.write_table(pa.table([[1], [2], [3]], names=["a", "b", "a"]), tmp_path / "dup.parquet")
    with pytest.raises(DataError, match="duplicate column names 'a'"):
        read_table(tmp_path / "dup.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(DataError, match="not a valid Parquet file"):
        read_table(tmp_path / "bad.parquet")


RECORDS = [{"id": 1, "name": "ann", "score": 3.5}, {"id": 2, "name": "bob", "score": 4.0}, {"id": 3, "name": "cy", "score": None}]


@pytest.mark.parametrize("name", ["r.json", "r.json.gz"])
def test_json_records(tmp_path: Path, name: str) -> None:
    frame = read_table(_write(tmp_path / name, json.dumps(RECORDS, indent=2)))
    assert list(frame.columns) == ["id", "name", "score"] and frame["name"].tolist() == ["ann", "bob", "cy"]
    assert frame.attrs["source"]["format"] == "json" and "delimiter" not in frame.attrs["source"]


@pytest.mark.parametrize("orient", ["records", "columns", "split"])
def test_json_pandas_orients(tmp_path: Path, orient: str) -> None:
    original = pd.DataFrame(RECORDS[:2], index=[7, 3])
    original.to_json(tmp_path / "t.json", orient=orient)
    frame = read_table(tmp_path / "t.json")
    assert frame["name"].tolist() == ["ann", "bob"] and list(frame.columns) == ["id", "name", "score"]


@pytest.mark.parametrize("name", ["r.jsonl", "r.ndjson", "r.jsonl.gz"])
def test_json_lines(tmp_path: Path, name: str) -> None:
    text = "\n".join(json.dumps(r) for r in RECORDS) + "\n\n"
    frame = read_table(_write(tmp_path / name, text))
    assert frame["id"].tolist() == [1, 2, 3] and frame.attrs["source"]["format"] == "jsonl"


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not valid JSON.*line 3"):
        read_table(_write(tmp_path / "bad.json", '[\n{"a": 1},\n{"a": 2,,}\n]'))
    lines = json.dumps(RECORDS[0]) + "\n" + json.dumps(RECORDS[1]) + "\n{\"id\": 3, \"name\": \n"
    with pytest.raises(DataError, match="line 3 is not valid JSON"):
        read_table(_write(tmp_path / "bad.jsonl.gz", lines))
    with pytest.raises(DataError, match="line 2 holds a list"):
        read_table(_write(tmp_path / "list.jsonl", '{"a": 1}\n[1, 2]\n'))
    with pytest.raises(DataError, match="name it .jsonl"):
        read_table(_write(tmp_path / "lines.json", '{"a": 1}\n{"a": 2}\n'))
    with pytest.raises(DataError, match="item 2 is a number"):
        read_table(_write(tmp_path / "mixed.json", '[{"a": 1}, 5]'))
    with pytest.raises(DataError, match="key 'a' twice"):
        read_table(_write(tmp_path / "dupkey.jsonl", '{"a": 1, "a": 2}\n'))


# ---------------------------------------------------------------------------------------------- SQLite


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as con:
        con.execute("create table orders (id integer primary key, customer text, amount real)")
        con.executemany("insert into orders values (?, ?, ?)", [(1, "ann", 9.5), (2, "bob", 20.0), (3, "ann", 1.0)])
        con.execute('create table "order items" ("order id" integer, sku text)')
        con.execute("insert into \"order items\" values (1, 'a'), (1, 'b')")
    con.close()
    return path


def test_sqlite_table_and_query(shop: Path, caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite:///{shop}"
    with caplog.at_level(logging.INFO, logger="features.io"):
        frame = read_table(url, table="orders")
    assert list(frame.columns) == ["id", "customer", "amount"] and len(frame) == 3
    assert frame.attrs["source"] == {"path": url, "format": "sql", "table": "orders"}
    assert any("sql" in r.getMessage() for r in caplog.records)
    items = read_table(url, table="order items")
    assert list(items.columns) == ["order id", "sku"] and len(items) == 2
    sql = "select customer, sum(amount) as total from orders where customer like 'a%' group by customer"
    totals = read_table(url, query=sql)
    assert totals.to_dict("records") == [{"customer": "ann", "total": 10.5}]
    assert totals.attrs["source"]["query"] == sql


def test_sqlite_errors(shop: Path, tmp_path: Path) -> None:
    url = f"sqlite:///{shop}"
    missing = tmp_path / "typo.db"
    with pytest.raises(DataError, match="does not exist"):
        read_table(f"sqlite:///{missing}", table="orders")
    assert not missing.exists()  # no empty database left behind
    with pytest.raises(DataError, match=r"Table 'order' is not in .*'order items', 'orders'"):
        read_table(url, table="order")
    with pytest.raises(DataError, match="did you mean 'orders'"):
        read_table(url, table="Orders ")
    with pytest.raises(DataError, match="The query failed.*no such column: nope") as err:
        read_table(url, query="select nope from orders")
    assert "\n" not in str(err.value) and "sqlalche.me" not in str(err.value)
    with pytest.raises(DataError, match="pass a SELECT"):
        read_table(url, query="create table t2 (a int)")
    not_db = _write(tmp_path / "notes.db", "just text, not sqlite\n" * 100)
    with pytest.raises(DataError, match="not a database"):
        read_table(f"sqlite:///{not_db}", table="t")


def test_argument_errors(shop: Path) -> None:
    url = f"sqlite:///{shop}"
    with pytest.raises(ConfigError, match=r"pass table= \(--table\).*or query= \(--query\)"):
        read_table(url)
    with pytest.raises(ConfigError, match="not both"):
        read_table(url, table="orders", query="select 1")
    with pytest.raises(ConfigError, match="applies only to a database URL"):
        read_table(shop.with_suffix(".csv"), table="orders")
    with pytest.raises(ConfigError, match="empty"):
        read_table(url, query="  ")
    with pytest.raises(ConfigError, match="No database driver"):
        read_table("nosuchdb://host/db", table="t")


def test_injection_via_table_name_is_just_a_missing_table(shop: Path) -> None:
    with pytest.raises(DataError, match="is not in"):
        read_table(f"sqlite:///{shop}", table="orders; drop table orders")
    assert len(read_table(f"sqlite:///{shop}", table="orders")) == 3


def test_is_database_url() -> None:
    assert is_database_url("sqlite:///shop.db") and is_database_url("postgresql+psycopg://u@h/db") and is_database_url("sqlite://")
    assert not is_database_url("shop.csv") and not is_database_url(Path("sqlite:///shop.db")) and not is_database_url("https://x/y.csv")


def test_unreachable_postgres_and_hidden_password() -> None:
    pytest.importorskip("psycopg")
    port = _free_port()  # nothing listens there
    with pytest.raises(DataError, match="Cannot connect to the database") as err:
        read_table(f"postgresql+psycopg://alice:s3cret@127.0.0.1:{port}/db", table="t")
    assert "s3cret" not in str(err.value) and "***" in str(err.value)


# ---------------------------------------------------------------------------------------------- PostgreSQL


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for candidate in [Path("/usr/lib/postgresql/15/bin"), *sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)]:
        if (candidate / "initdb").is_file() and (candidate / "pg_ctl").is_file():
            return candidate
    return None


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    """A throwaway PostgreSQL server on a free loopback port, stopped by its data dir at the end of the module."""
    pytest.importorskip("psycopg")
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL binaries (initdb, pg_ctl) not found under /usr/lib/postgresql/*/bin")
    as_postgres: list[str] = []
    base = Path(tempfile.mkdtemp(prefix="automl-pg-"))  # under /tmp: pytest's own tmp dirs are closed to the postgres user
    if os.geteuid() == 0:  # initdb and pg_ctl refuse to run as root
        if shutil.which("runuser") is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL as the postgres user")
        as_postgres = ["runuser", "-u", "postgres", "--"]
        shutil.chown(base, "postgres", "postgres")
    data, sockets, port = base / "data", base / "sock", _free_port()

    def run(*args: str) -> None:
        subprocess.run([*as_postgres, *args], check=True, capture_output=True, timeout=120)

    run("mkdir", str(sockets))
    started = False
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--no-locale", "--no-sync")
        options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
        run(str(bindir / "pg_ctl"), "-D", str(data), "-o", options, "-l", str(base / "server.log"), "-w", "-t", "60", "start")
        started = True
        url = f"postgresql+psycopg://postgres@127.0.0.1:{port}/postgres"
        import sqlalchemy as sa

        engine = sa.create_engine(url)
        with engine.begin() as con:
            con.execute(sa.text("create table orders (id int primary key, customer text, amount numeric(8, 2))"))
            con.execute(sa.text("insert into orders values (1, 'ann', 9.5), (2, 'bob', 20), (3, 'ann', 1)"))
            con.execute(sa.text('create table "Order Items" ("order id" int, sku text)'))
            con.execute(sa.text("insert into \"Order Items\" values (1, 'a')"))
            con.execute(sa.text("create schema sales"))
            con.execute(sa.text("create table sales.regions (name text)"))
            con.execute(sa.text("insert into sales.regions values ('north'), ('south')"))
        engine.dispose()
        yield url
    except subprocess.CalledProcessError as exc:
        log = (base / "server.log").read_text(errors="replace") if (base / "server.log").exists() else ""
        pytest.fail(f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')} {log}")
    finally:
        if started:
            subprocess.run([*as_postgres, str(bindir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"], capture_output=True, timeout=120)
        shutil.rmtree(base, ignore_errors=True)


def test_postgres_table_and_query(postgres: str) -> None:
    frame = read_table(postgres, table="orders")
    assert list(frame.columns) == ["id", "customer", "amount"] and sorted(frame["id"]) == [1, 2, 3]
    assert frame.attrs["source"] == {"path": postgres, "format": "sql", "table": "orders"}
    totals = read_table(postgres, query="select customer, sum(amount)::float as total from orders where customer like 'a%' group by customer")
    assert totals.to_dict("records") == [{"customer": "ann", "total": 10.5}]
    assert list(read_table(postgres, table="Order Items").columns) == ["order id", "sku"]
    assert read_table(postgres, table="sales.regions")["name"].tolist() == ["north", "south"]
    plain = postgres.replace("postgresql+psycopg://", "postgresql://")  # psycopg 3 stands in for SQLAlchemy's default psycopg2
    assert len(read_table(plain, table="orders")) == 3


def test_postgres_errors(postgres: str) -> None:
    with pytest.raises(DataError, match=r"Table 'order_items' is not in .*did you mean 'Order Items'.*'orders'"):
        read_table(postgres, table="order_items")
    with pytest.raises(DataError, match='The query failed.*column "nope" does not exist') as err:
        read_table(postgres, query="select nope from orders")
    assert "\n" not in str(err.value)
    with pytest.raises(DataError, match="Cannot connect.*nosuchdb"):
        read_table(postgres.rsplit("/", 1)[0] + "/nosuchdb", table="orders")

"""Readers find the warehouse from any folder (the user config file a run records it in), the
"no warehouse" error lists every place tried, and a warehouse knows its source: sample and
akshare data are not mixed in one file unless asked for."""

import datetime as dt
import hashlib
import os
import tomllib
from pathlib import Path

import duckdb
import pytest
import responses

from quantdb_pipeline import read
from quantdb_pipeline.cli import EXIT_NOT_PUBLISHED, EXIT_OK, EXIT_USAGE, main
from quantdb_pipeline.resources import WarehouseResource, resources_from_env
from quantdb_pipeline.warehouse import schema
from quantdb_pipeline.warehouse.publish import publish
from quantdb_pipeline.warehouse.source_identity import MixedSourcesError
from quantdb_pipeline.warehouse_location import find_warehouse

#: One symbol, one week: what the assertions need, in one Dagster run (`--symbols` implies cn).
RUN = [
    "run",
    "--source",
    "sample",
    "--sample-today",
    "2024-07-19",
    "--start",
    "2024-07-15",
    "--end",
    "2024-07-19",
    "--symbols",
    "600000",
    "--sample-size",
    "10",
    "--no-progress",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def sources(path: Path) -> list[tuple]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute("SELECT source, mixed_allowed FROM warehouse_sources ORDER BY first_written_at").fetchall()


@pytest.mark.slow
def test_the_demo_writes_sample_duckdb_and_readers_find_it_from_any_folder_and_akshare_is_refused(
    workdir, user_config_home, tmp_path_factory, monkeypatch, capsys
):
    assert main(RUN) == EXIT_OK
    out, err = capsys.readouterr()
    sample = workdir / "warehouse" / "sample.duckdb"
    # the sample's own file by default, not the real-data warehouse
    assert sample.exists() and not (workdir / "warehouse" / "quantdb.duckdb").exists()
    # --symbols named A-shares only: no HK bars, no indices, no fundamentals
    assert "loading cn only (named by --symbols)" in err
    with duckdb.connect(str(sample), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM hk_daily_bars").fetchall() == [(0,)]
        assert conn.execute("SELECT count(*) FROM index_daily_bars").fetchall() == [(0,)]
    assert sources(sample) == [("sample", False)]  # recorded on the first write
    config = user_config_home / "quantdb-pipeline" / "config.toml"
    recorded = tomllib.loads(config.read_text())["warehouse"]
    assert recorded["path"] == str(sample) and recorded["source"] == "sample"
    assert f"now open {sample} from any folder (recorded in {config}" in out

    # a notebook in another folder, without QUANTDB_WAREHOUSE: found through the config file
    elsewhere = tmp_path_factory.mktemp("notebooks")
    monkeypatch.chdir(elsewhere)
    bars = read.daily_bars("600000")
    assert list(bars.trade_date.astype(str)) == ["2024-07-15", "2024-07-16", "2024-07-17", "2024-07-18", "2024-07-19"]
    assert main(["status"]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == f"warehouse: {sample} (source: sample)"

    # real data into the sample's file: refused before anything starts, the file unchanged
    before = digest(sample)
    with responses.RequestsMock():  # no HTTP request may be made: any would fail the test
        code = main(
            [
                "run",
                "--source",
                "akshare",
                "--warehouse",
                str(sample),
                "--symbols",
                "600000",
                "--start",
                "2024-07-22",
                "--no-progress",
            ]
        )
    err = capsys.readouterr().err
    assert code == EXIT_USAGE
    assert f"refused to write akshare data into {sample}:" in err
    assert "recorded source is sample" in err and "--allow-mixed-sources" in err
    assert "--warehouse warehouse/quantdb.duckdb" in err  # where akshare data goes by default
    assert len(err.strip().splitlines()) <= 10  # one screen
    assert digest(sample) == before and sources(sample) == [("sample", False)]
    assert not (elsewhere / ".dagster").exists()  # no run recorded either
    # with the flag the refusal is lifted (a weekend: no trading day, so no run and no request)
    with responses.RequestsMock():
        code = main(
            [
                "run",
                "--source",
                "akshare",
                "--warehouse",
                str(sample),
                "--symbols",
                "600000",
                "--start",
                "2024-07-20",
                "--end",
                "2024-07-21",
                "--allow-mixed-sources",
                "--no-progress",
            ]
        )
    err = capsys.readouterr().err
    assert code == EXIT_OK and "refused" not in err and "no trading day in 2024-07-20..2024-07-21" in err


@pytest.fixture
def akshare_warehouse(tmp_path) -> Path:
    """A published warehouse whose recorded source is akshare (as a real run records it)."""
    path = tmp_path / "real" / "quantdb.duckdb"
    with schema.connect(path.with_name("quantdb.work.duckdb")) as conn:
        conn.execute("INSERT INTO warehouse_sources VALUES ('akshare', now(), 'run-1', false)")
    publish(path)
    return path


def test_the_warehouse_resource_refuses_another_source_unless_mixing_is_allowed(akshare_warehouse):
    """The path of runs launched from the Dagster UI or a schedule: every step opens the
    warehouse through the resource, which refuses before anything is written."""
    refused = WarehouseResource(database=str(akshare_warehouse), source="sample")
    with pytest.raises(MixedSourcesError, match="(?s)refused to write sample data into .*recorded source is akshare"):
        with refused.get_connection():
            pass
    allowed = WarehouseResource(database=str(akshare_warehouse), source="sample", allow_mixed_sources=True)
    with allowed.get_connection() as conn:
        assert conn.execute(
            "SELECT source, mixed_allowed FROM warehouse_sources ORDER BY first_written_at"
        ).fetchall() == [("akshare", False), ("sample", True)]
    with WarehouseResource(database=str(akshare_warehouse), source="akshare").get_connection() as conn:
        assert conn.execute("SELECT count(*) FROM warehouse_sources").fetchall() == [(2,)]  # its own: no new row


def test_the_cli_refuses_sample_data_into_an_akshare_warehouse(workdir, akshare_warehouse, capsys):
    before = digest(akshare_warehouse)
    assert main(RUN + ["--warehouse", str(akshare_warehouse)]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert f"refused to write sample data into {akshare_warehouse}:" in err and "--allow-mixed-sources" in err
    assert "--warehouse warehouse/sample.duckdb" in err
    assert digest(akshare_warehouse) == before and not (workdir / ".dagster").exists()


def test_dagster_resources_default_to_the_cli_s_file_for_their_source():
    assert resources_from_env({})["warehouse"].database == os.path.join("warehouse", "sample.duckdb")
    assert resources_from_env({})["warehouse"].source == "sample"
    real = resources_from_env({"QUANTDB_SOURCE": "akshare"})["warehouse"]
    assert (real.database, real.source) == (os.path.join("warehouse", "quantdb.duckdb"), "akshare")
    assert resources_from_env({"QUANTDB_WAREHOUSE": "/x/w.duckdb"})["warehouse"].database == "/x/w.duckdb"


def write_config(home: Path, path: Path) -> Path:
    config = home / "quantdb-pipeline" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'[warehouse]\npath = "{path}"\nsource = "sample"\n')
    return config


def test_with_no_warehouse_anywhere_the_error_lists_every_place_and_how_to_build_one(
    tmp_path, monkeypatch, user_config_home
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANTDB_WAREHOUSE", raising=False)
    with pytest.raises(read.WarehouseNotFoundError) as raised:
        read.daily_bars("600000")
    lines = str(raised.value).splitlines()
    config = user_config_home / "quantdb-pipeline" / "config.toml"
    assert lines[1:6] == [
        "  1. warehouse= argument: not given",
        "  2. $QUANTDB_WAREHOUSE: not set",
        f"  3. user config {config}: no such file (a `quantdb-pipeline run` writes it when it publishes)",
        f"  4. project default for real data (relative to the working directory {tmp_path}): "
        f"{tmp_path / 'warehouse' / 'quantdb.duckdb'} (no such file)",
        f"  5. project default for the sample market: {tmp_path / 'warehouse' / 'sample.duckdb'} (no such file)",
    ]
    assert "build one with `quantdb-pipeline run`" in lines[-1]


def test_a_missing_explicit_choice_names_the_existing_warehouse_and_suggests_no_new_one(
    tmp_path, monkeypatch, user_config_home
):
    monkeypatch.chdir(tmp_path)
    existing = tmp_path / "elsewhere" / "quantdb.duckdb"
    existing.parent.mkdir()
    existing.write_bytes(b"")  # the resolver only asks whether the file exists
    write_config(user_config_home, existing)
    assert find_warehouse() == existing  # found from a folder with no warehouse of its own
    monkeypatch.setenv("QUANTDB_WAREHOUSE", "moved.duckdb")  # a stale variable: used even so, never skipped
    with pytest.raises(read.WarehouseNotFoundError) as raised:
        read.connect()
    message = str(raised.value)
    assert f"  2. $QUANTDB_WAREHOUSE: {tmp_path / 'moved.duckdb'} (no such file)" in message
    assert f"entry warehouse.path: {existing} (found;" in message
    assert message.splitlines()[-1].startswith(f"a warehouse exists at {existing}")
    assert "unset QUANTDB_WAREHOUSE" in message
    assert "build" not in message  # no second warehouse


def test_a_config_entry_pointing_to_a_deleted_file_is_named(tmp_path, monkeypatch, user_config_home):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("QUANTDB_WAREHOUSE", raising=False)
    gone = tmp_path / "old" / "quantdb.duckdb"
    write_config(user_config_home, gone)
    assert main(["status"]) == EXIT_NOT_PUBLISHED
    with pytest.raises(read.WarehouseNotFoundError) as raised:
        read.connect()
    message = str(raised.value)
    assert f"entry warehouse.path: {gone} (no such file;" in message
    assert f"the user config's warehouse.path points to {gone}, which no longer exists" in message
    # the project default in the working folder is the next place: found when it exists
    (tmp_path / "warehouse").mkdir()
    (tmp_path / "warehouse" / "quantdb.duckdb").write_bytes(b"")
    assert find_warehouse() == tmp_path / "warehouse" / "quantdb.duckdb"


def test_a_warehouse_from_before_the_sources_table_gets_its_sources_from_its_rows():
    """Migration 0015 on a warehouse the issue describes (the demo's sample rows, then an akshare
    run's): both sources recorded, the later one as mixed; a read-only planning connection to a
    file not yet migrated reads the same from the rows."""
    from quantdb_pipeline.warehouse.schema import migrations
    from quantdb_pipeline.warehouse.source_identity import recorded_sources

    conn = duckdb.connect(":memory:")
    bundled = migrations()
    for _, _, sql in bundled[:14]:
        conn.execute(sql)
    conn.execute("INSERT INTO trading_calendar VALUES ('CN', '2024-01-02', 'sample', 'r1', '2024-01-01 00:00+00')")
    conn.execute(
        "INSERT INTO daily_bars (symbol, trade_date, open, high, low, close, volume, amount, source, run_id, "
        "ingested_at) VALUES ('600000', '2024-01-02', 1, 1, 1, 1, 1, 1, 'akshare/spot', 'r2', "
        "'2024-02-01 00:00+00')"
    )
    assert recorded_sources(conn) == ["sample", "akshare"]  # not migrated yet: from the rows
    assert bundled[14][1] == "0015_warehouse_sources.sql"
    conn.execute(bundled[14][2])
    assert conn.execute(
        "SELECT source, first_written_at::DATE, mixed_allowed FROM warehouse_sources ORDER BY first_written_at"
    ).fetchall() == [("sample", dt.date(2024, 1, 1), False), ("akshare", dt.date(2024, 2, 1), True)]


def test_a_run_repoints_readers_only_when_nothing_else_is_recorded(tmp_path, user_config_home, capsys):
    """The config entry moves on the first publish, to real data after the demo (a complete run),
    and away from a deleted file; a scratch run into another file, or a failed real run, leaves it
    and says how to read its own file."""
    from quantdb_pipeline.cli import _record_for_readers
    from quantdb_pipeline.warehouse_location import read_config

    demo, scratch, real, other_real = (tmp_path / f"{name}.duckdb" for name in ("demo", "scratch", "real", "other"))
    for path in (demo, scratch, real, other_real):
        path.touch()

    def recorded() -> tuple[str, str]:
        entry = read_config()["warehouse"]
        return entry["path"], entry["source"]

    _record_for_readers(demo, "sample", complete=False)  # the first publish, even a partial one
    assert recorded() == (str(demo), "sample")
    _record_for_readers(scratch, "sample", complete=True)  # a scratch run
    assert recorded() == (str(demo), "sample")
    assert f"readers still open {demo}" in capsys.readouterr().out
    _record_for_readers(real, "akshare", complete=False)  # real data, but the run failed in part
    assert recorded() == (str(demo), "sample")
    _record_for_readers(real, "akshare", complete=True)  # from the demo to real data
    assert recorded() == (str(real), "akshare")
    assert f"now open {real} from any folder" in capsys.readouterr().out
    _record_for_readers(other_real, "akshare", complete=True)  # a second real file does not take over
    assert recorded() == (str(real), "akshare")
    _record_for_readers(real, "akshare", complete=True)  # the nightly run: recorded again, quietly
    assert recorded() == (str(real), "akshare") and "now open" not in capsys.readouterr().out
    real.unlink()
    _record_for_readers(other_real, "akshare", complete=False)  # the recorded file is gone
    assert recorded() == (str(other_real), "akshare")

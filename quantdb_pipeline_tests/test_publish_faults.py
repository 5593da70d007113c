"""Local faults around the published file, on real files and real processes: a write-ahead log
left beside it by a killed read-write BI session, and a volume that fills up during the
publish copy (injected by replacing the stdlib's copy in a subprocess, and for real on a small
tmpfs where this machine lets us mount one)."""

import datetime as dt
import hashlib
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import dagster
import duckdb
import pytest

from quantdb_pipeline import read
from quantdb_pipeline.resources import WarehouseResource
from quantdb_pipeline.sources.sample import SampleMarket
from quantdb_pipeline.warehouse.publish import NotEnoughSpace, open_working, publish, working_path
from quantdb_pipeline_tests.faults import published_sample_warehouse

pytestmark = pytest.mark.slow  # cuts publishing short in subprocesses

REPO = Path(__file__).resolve().parents[1]
EDITED, DELETED = "600000", "000001"

#: A BI session that opened the published file read-write (DBeaver's default), edits, and is
#: killed before anything checkpoints: its edits stay in `quantdb.duckdb.wal`.
BI_SESSION = textwrap.dedent(f"""
    import duckdb, os, signal, sys
    conn = duckdb.connect(sys.argv[1], config={{"checkpoint_threshold": "1GB"}})
    conn.execute("UPDATE daily_bars SET close = -1 WHERE symbol = '{EDITED}'")
    conn.execute("DELETE FROM daily_bars WHERE symbol = '{DELETED}'")
    conn.execute("CREATE VIEW foreign_view AS SELECT 42 AS answer")
    os.kill(os.getpid(), signal.SIGKILL)
""")


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory) -> Path:
    """A published file and its working file, built once (July 2024 of the sample market)."""
    folder = tmp_path_factory.mktemp("sample")
    return published_sample_warehouse(
        folder / "quantdb.duckdb", SampleMarket(today="2024-07-31"), dt.date(2024, 7, 1), dt.date(2024, 7, 31)
    )


@pytest.fixture
def published(sample_files, tmp_path) -> Path:
    for name in (sample_files.name, working_path(sample_files).name):
        shutil.copyfile(sample_files.with_name(name), tmp_path / name)
    return tmp_path / sample_files.name


def kill_a_read_write_session(published: Path) -> None:
    done = subprocess.run([sys.executable, "-c", BI_SESSION, str(published)], capture_output=True, text=True)
    assert done.returncode == -9, done.stderr
    assert Path(f"{published}.wal").stat().st_size > 0


def snapshot(path: Path) -> dict:
    """What a plain read-only DuckDB connection sees: the edited symbol's closes, the deleted
    symbol's row count, and the non-internal views."""
    with duckdb.connect(str(path), read_only=True) as conn:
        closes = conn.execute(
            "SELECT trade_date, close FROM daily_bars WHERE symbol = ? ORDER BY trade_date", [EDITED]
        ).fetchall()
        deleted = conn.execute("SELECT count(*) FROM daily_bars WHERE symbol = ?", [DELETED]).fetchall()[0][0]
        views = {v for (v,) in conn.execute("SELECT view_name FROM duckdb_views() WHERE NOT internal").fetchall()}
    return {"closes": closes, "deleted_rows": deleted, "views": views}


def test_a_leftover_wal_is_moved_aside_and_readers_see_exactly_the_checked_snapshot(published):
    checked = snapshot(working_path(published))
    assert checked["deleted_rows"] > 0 and "foreign_view" not in checked["views"]
    kill_a_read_write_session(published)
    assert snapshot(published)["deleted_rows"] == 0  # the harm: DuckDB replays the log on open

    result = publish(published)

    assert not Path(f"{published}.wal").exists()
    (aside,) = result.orphaned_wals
    assert aside.parent == published.parent and aside.name.startswith("quantdb.duckdb.wal.orphaned-")
    assert aside.stat().st_size > 0  # kept for inspection
    assert snapshot(published) == checked
    bars = read.daily_bars([EDITED, DELETED], warehouse=published)
    assert sorted(bars.loc[bars["symbol"] == EDITED, "close"].tolist()) == sorted(c for _, c in checked["closes"])
    assert (bars["symbol"] == DELETED).sum() == checked["deleted_rows"]
    with read.connect(published) as conn:
        assert not conn.execute("SELECT 1 FROM duckdb_views() WHERE view_name = 'foreign_view'").fetchall()
    assert publish(published).orphaned_wals == ()  # nothing left to move on the next publish


def test_a_new_working_file_starts_from_the_snapshot_not_from_a_foreign_wal(published):
    checked = snapshot(published)
    kill_a_read_write_session(published)
    working_path(published).unlink()

    open_working(published).close()

    assert snapshot(working_path(published)) == checked
    assert not list(published.parent.glob(".*publishing-*"))


def test_the_orphaned_wal_is_in_the_metadata_and_log_of_published_warehouse(published):
    from quantdb_pipeline.assets import published_warehouse

    kill_a_read_write_session(published)
    with dagster.DagsterInstance.ephemeral() as instance:
        result = dagster.materialize(
            [published_warehouse],
            instance=instance,
            resources={"warehouse": WarehouseResource(database=str(published))},
        )
        assert result.success
        metadata = result.asset_materializations_for_node("published_warehouse")[0].metadata
        (aside,) = metadata["orphaned_wals"].value
        assert Path(aside).exists() and ".wal.orphaned-" in aside
        warnings = [e.message for e in instance.all_logs(result.run_id) if e.level == 30]  # logging.WARNING
    assert any(f"moved quantdb.duckdb.wal aside to {aside}" in w and "read-only" in w for w in warnings), warnings
    assert snapshot(published)["deleted_rows"] > 0


#: Runs `publish` (or the `published_warehouse` step, or the CLI) with the stdlib's file copy
#: replaced by one that writes part of the file and then fails as a full volume does: write(2) and
#: sendfile(2) report ENOSPC once the volume is full, and `shutil.copyfile` raises that OSError
#: leaving the partial target behind (the partial `.publishing-<pid>` copy the bug report found).
#: Or it fails as a Ctrl-C in the middle of the copy does.
FULL_VOLUME = textwrap.dedent("""
    import errno, os, shutil, sys
    published, how = sys.argv[1], sys.argv[2]

    def copy_until_full(source, target, *, follow_symlinks=True):
        with open(source, "rb") as src, open(target, "wb") as dst:
            dst.write(src.read(os.path.getsize(source) // 2))
        if how == "interrupt":
            raise KeyboardInterrupt
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(target))

    shutil.copyfile = copy_until_full
    if how == "cli":  # a nightly run, as cron starts it, whose publish meets the full volume
        from quantdb_pipeline.cli import main
        sys.exit(main(["run", "--warehouse", published, "--markets", "index", "--indices", "000001",
                       "--sample-size", "10", "--sample-today", "2024-08-02", "--no-progress"]))
    if how == "dagster":
        import dagster
        from quantdb_pipeline.assets import published_warehouse
        from quantdb_pipeline.assets.outcome import step_failure_message
        from quantdb_pipeline.resources import WarehouseResource
        result = dagster.materialize([published_warehouse], raise_on_error=False,
                                     resources={"warehouse": WarehouseResource(database=published)})
        print("\\n".join(step_failure_message(e) for e in result.all_events if e.is_step_failure))
        sys.exit(0)
    from quantdb_pipeline.warehouse.publish import publish
    try:
        publish(published)
    except KeyboardInterrupt:
        sys.exit(130)
""")


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("how", ["publish", "interrupt", "dagster", "cli"])
def test_a_copy_cut_short_leaves_the_published_file_and_no_temporary_copy(published, how, tmp_path):
    before = digest(published)
    shutil.copy(REPO / "dagster.yaml", tmp_path / "dagster.yaml")  # the CLI's instance, in tmp_path
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("QUANTDB_", "DAGSTER_HOME"))},
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, "-c", FULL_VOLUME, str(published), how],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert digest(published) == before
    assert not list(published.parent.glob(".quantdb.duckdb.publishing-*"))
    if how == "publish":
        assert done.returncode == 1 and "No space left on device" in done.stderr.splitlines()[-1]
    elif how == "interrupt":
        assert done.returncode == 130, done.stderr
    elif how == "cli":  # one screen: the failure in one line, no Dagster log lines or stack traces
        assert done.returncode == 1, done.stdout + done.stderr
        loading, failure, details = done.stderr.strip().splitlines()
        assert details.startswith("quantdb-pipeline: details (every warning, retry and stack trace): ")
        assert loading.startswith("Loading sample market")
        assert failure.startswith(
            "step published_warehouse failed: nothing published, the published file is "
            "unchanged: [Errno 28] No space left on device"
        ), failure
        assert "FAILED: nothing published" in done.stdout and "Traceback" not in done.stdout
    else:  # the step's failure is one line, in the words the CLI prints after "step ... failed:"
        assert done.returncode == 0, done.stderr
        (message,) = done.stdout.strip().splitlines()
        assert message.startswith("nothing published, the published file is unchanged: [Errno 28] No space left")
        assert message.endswith(f"; free space in {published.parent} and run again")


def test_stale_temporary_copies_of_dead_processes_are_removed_when_a_run_starts(published):
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead = published.with_name(f".quantdb.duckdb.publishing-{finished.pid}")
    alive = published.with_name(f".quantdb.duckdb.publishing-{os.getppid()}")  # another live process
    for path in (dead, alive):
        path.write_bytes(b"\0" * 4096)
    with dagster.build_resources({"warehouse": WarehouseResource(database=str(published))}):
        pass
    assert not dead.exists()
    assert alive.exists()  # it might be publishing right now


@pytest.fixture
def small_volume(tmp_path):
    """A 16 MiB tmpfs, or a skip where mounting is not allowed (CI containers)."""
    mount = tmp_path / "volume"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=True)


def test_publish_checks_free_space_first_and_says_how_much_is_missing(published, small_volume):
    target = small_volume / published.name
    for source in (published, working_path(published)):
        shutil.copyfile(source, small_volume / source.name)
    filler = small_volume / "filler"  # leave less than working file x 1.1 free
    free = shutil.disk_usage(small_volume).free
    filler.write_bytes(b"\0" * (free - working_path(target).stat().st_size))
    before = digest(target)

    with pytest.raises(NotEnoughSpace) as raised:
        publish(target)

    message = str(raised.value)
    needed = working_path(target).stat().st_size * 1.1 / 2**20
    assert f"{needed:.1f} MiB needed" in message and "MiB free in" in message and str(small_volume) in message
    assert "\n" not in message and "run again" in message
    assert digest(target) == before
    assert not list(small_volume.glob(".quantdb.duckdb.publishing-*"))
    filler.unlink()
    assert publish(target).size_bytes == working_path(target).stat().st_size  # room again: publishes


def test_the_cli_summary_lists_the_moved_wal_among_the_run_warnings(published, workdir, capsys):
    from quantdb_pipeline.cli import EXIT_OK, main

    kill_a_read_write_session(published)
    assert (
        main(
            [
                "run",
                "--warehouse",
                str(published),
                "--markets",
                "index",
                "--indices",
                "000001",
                "--sample-size",
                "10",
                "--sample-today",
                "2024-08-02",
                "--no-progress",
            ]
        )
        == EXIT_OK
    )
    out = capsys.readouterr().out.splitlines()
    at = out.index("warnings (1):")
    assert out[at + 1].strip().startswith("moved quantdb.duckdb.wal aside to ")
    assert snapshot(published)["deleted_rows"] > 0

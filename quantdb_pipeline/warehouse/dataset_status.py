"""Each dataset's last load outcome (`dataset_status`): what was published stale, and why.

A load that stops (circuit breaker, endpoint down, batch refused by the gate) writes nothing
that did not pass the gate, so its table keeps its last good rows; the run records the
failure here and publishes the other datasets. A later completed load clears it.

Shapes: `dataset` is the asset name, equal to the table it writes (`hk_daily_bars`);
`reason` one line of text; times are UTC `TIMESTAMPTZ`.
"""

from __future__ import annotations

import duckdb
import pandas as pd

OK, FAILED = "ok", "failed"


def one_line(text: str, limit: int = 500) -> str:
    """`text` on one line (alerts and summaries print one line per dataset), at most `limit` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def record(conn: duckdb.DuckDBPyConnection, dataset: str, run_id: str, reason: str | None) -> None:
    """Record how `dataset`'s load in `run_id` ended: `reason` None = completed, else why it failed.

    On a dataset's first recorded failure the last good load is taken from its table's newest
    `ingested_at` (rows written before this record existed), when the table has that column.
    """
    status = OK if reason is None else FAILED
    fallback_at, fallback_run = None, None
    if status == FAILED and not conn.execute("SELECT 1 FROM dataset_status WHERE dataset = ?", [dataset]).fetchall():
        has_lineage = conn.execute(
            "SELECT count(*) FROM information_schema.columns WHERE table_name = ? AND column_name = 'ingested_at'",
            [dataset]).fetchall()[0][0]
        if has_lineage:
            fallback_at, fallback_run = conn.execute(
                f'SELECT max(ingested_at), arg_max(run_id, ingested_at) FROM "{dataset}"').fetchall()[0]
    conn.execute(
        """
        INSERT INTO dataset_status AS s
            (dataset, status, reason, run_id, attempted_at, last_good_at, last_good_run_id)
        VALUES ($dataset, $status, $reason, $run_id, now(),
                CASE WHEN $status = 'ok' THEN now() ELSE $fallback_at END,
                CASE WHEN $status = 'ok' THEN $run_id ELSE $fallback_run END)
        ON CONFLICT (dataset) DO UPDATE SET
            status = excluded.status, reason = excluded.reason, run_id = excluded.run_id,
            attempted_at = excluded.attempted_at,
            last_good_at = CASE WHEN excluded.status = 'ok' THEN excluded.attempted_at ELSE s.last_good_at END,
            last_good_run_id = CASE WHEN excluded.status = 'ok' THEN excluded.run_id ELSE s.last_good_run_id END
        """,
        {"dataset": dataset, "status": status, "reason": None if reason is None else one_line(reason),
         "run_id": run_id, "fallback_at": fallback_at, "fallback_run": fallback_run})


def outcomes_of_run(conn: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, str | None]:
    """dataset -> None (completed) or the failure reason, for every dataset `run_id` recorded."""
    rows = conn.execute("SELECT dataset, status, reason FROM dataset_status WHERE run_id = ? ORDER BY dataset",
                        [run_id]).fetchall()
    return {dataset: (None if status == OK else reason) for dataset, status, reason in rows}


def stale(conn: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Datasets whose last load failed: dataset, reason, failed_run_id, failed_at, last_good_at, last_good_run_id."""
    return conn.execute(
        "SELECT dataset, reason, run_id AS failed_run_id, attempted_at AS failed_at, last_good_at, last_good_run_id "
        "FROM dataset_status WHERE status = 'failed' ORDER BY dataset").df()

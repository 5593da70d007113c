-- The market data source(s) a warehouse holds, so that simulated (sample) and real (akshare)
-- prices never end up in one file by accident: a run refuses to write data of another source
-- than the recorded one unless mixing is allowed (`--allow-mixed-sources`; see
-- `warehouse.source_identity`). One row per source; a second row means a mixed warehouse.

CREATE TABLE warehouse_sources (
    source           VARCHAR NOT NULL PRIMARY KEY,
    first_written_at TIMESTAMPTZ NOT NULL,
    first_run_id     VARCHAR,
    mixed_allowed    BOOLEAN NOT NULL
);
COMMENT ON TABLE warehouse_sources IS 'Market data sources whose data this warehouse holds, recorded on their first write; more than one row means a mixed warehouse.';
COMMENT ON COLUMN warehouse_sources.source IS 'Source name: sample (the offline simulated market, not real prices) or akshare (the real vendors through akshare).';
COMMENT ON COLUMN warehouse_sources.first_written_at IS 'When a run of this source first opened the warehouse for writing, UTC.';
COMMENT ON COLUMN warehouse_sources.first_run_id IS 'Dagster run id of that first run; NULL when unknown (recorded from rows written before this table existed).';
COMMENT ON COLUMN warehouse_sources.mixed_allowed IS 'true when this source was added to a warehouse already holding another source, with --allow-mixed-sources (or the warehouse resource''s allow_mixed_sources); false for the first source.';

-- A warehouse written before this table existed: its sources from the lineage of the rows it
-- holds (per-row lineage such as 'akshare/spot' counts as akshare). Two sources found here were
-- mixed without anyone allowing it; the later one is marked as mixed all the same.
INSERT INTO warehouse_sources
SELECT source, first_written_at, NULL, row_number() OVER (ORDER BY first_written_at, source) > 1
FROM (
    SELECT split_part(source, '/', 1) AS source, min(ingested_at) AS first_written_at
    FROM (SELECT source, ingested_at FROM trading_calendar
          UNION ALL SELECT source, ingested_at FROM securities
          UNION ALL SELECT source, ingested_at FROM daily_bars)
    GROUP BY 1
);

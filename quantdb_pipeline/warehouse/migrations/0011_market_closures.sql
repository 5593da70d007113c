-- Market closures the library calendar does not know: a typhoon or black-rainstorm day on HKEX
-- that exchange_calendars still lists as a session (2023-09-01, 2023-09-08), or a whole-market
-- A-share closure. Recorded by the bar loaders from evidence (every symbol asked for the day
-- answered empty while one probe request showed the source serving the sessions before it),
-- and applied over trading_calendar by the view trading_sessions, which every reader of the
-- calendar uses. A later answer holding a bar on a recorded day removes the row.

CREATE TABLE market_closures (
    market      VARCHAR NOT NULL,
    day         DATE NOT NULL,
    detected_at TIMESTAMPTZ NOT NULL,
    evidence    VARCHAR NOT NULL,
    run_id      VARCHAR NOT NULL,
    PRIMARY KEY (market, day)
);
COMMENT ON TABLE market_closures IS
    'Days on which a market did not trade although trading_calendar (the library calendar) lists them, found from the answers of a run; not trading days for any reader (see trading_sessions).';
COMMENT ON COLUMN market_closures.market IS 'Calendar market, as in trading_calendar: CN (SSE, SZSE, BSE) or HK.';
COMMENT ON COLUMN market_closures.day IS 'The closed day (exchange local date).';
COMMENT ON COLUMN market_closures.detected_at IS 'When the run that recorded the closure found it (UTC).';
COMMENT ON COLUMN market_closures.evidence IS
    'Why it is believed closed, e.g. "412 of 412 symbols asked for 2023-09-01 answered empty; probe 00700 answered 2023-08-31, nothing for 2023-09-01".';
COMMENT ON COLUMN market_closures.run_id IS 'The Dagster run (or CLI run) that recorded it.';

CREATE VIEW trading_sessions AS
SELECT t.market, t.trade_date
FROM trading_calendar t
WHERE NOT EXISTS (SELECT 1 FROM market_closures c WHERE c.market = t.market AND c.day = t.trade_date);
COMMENT ON VIEW trading_sessions IS
    'The days each market traded: trading_calendar less market_closures. Read this, not trading_calendar, for trading days.';

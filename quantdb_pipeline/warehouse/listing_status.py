"""Which stored A-share codes the exchanges still list, which dropped out, which switched code.

Only `listed` codes are fetched (bars, factors, profiles, financials, the new-listings
sensor). A code that drops out of its exchange's list is kept with its rows and stays
readable, but becomes `dropped`; the old code of a code switch becomes `switched` and a
`symbol_changes` row maps it to its new code, so that `read.daily_bars` of either code
returns the joined history.

The case this exists for: from October 2025 every Beijing Stock Exchange stock trades under
a new 920xxx code. eastmoney answers the old 43/83/87xxxx codes with no data and serves the
whole history under the new code, so fetching the old codes only produced empty answers
(eight in a row opened the bars' circuit breaker and stopped the night).

How a switch is recognised, in order:

1. the BSE list names the previous code (a `原代码` column, see `normalize.bse_previous_codes`):
   `matched_by = 'exchange_list'`;
2. else an old BSE code (not 92xxxx) that dropped out of the list, or is still listed next
   to its twin, and a 92xxxx code of the BSE list with the identical name and listing date
   (the switch kept both; one match on each side, ambiguous pairs are left alone):
   `matched_by = 'name_and_list_date'`.

akshare 1.19.5's `stock_info_bj_name_code` keeps only 证券代码, 证券简称, 总股本, 流通股本,
上市日期, 所属行业, 地区 and 报告日期 of bse.cn's answer (the other positional columns are
named "-" and dropped), so today only rule 2 applies; rule 1 takes over should a later
version (or the BSE) name the old code. Either way the result is the same mapping.

A one-off short list must not deactivate a market: drops that no switch explains are applied
only while they stay within `MAX_DROP_SHARE` of an exchange's listed codes (at least
`MIN_DROPS_ALLOWED` are always allowed). Real delistings leave a handful of codes a day, and
the SSE/SZSE ones move to the delisting lists, which are part of the load; a list truncated
to its first pages (the lists are paged upstream) would drop hundreds. Switched codes are
not bounded: each is explained by a twin the same list shows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

import duckdb
import pandas as pd

from quantdb_pipeline.symbols import BSE_CODE_SWITCH_DATE, NEW_BSE_PREFIX

log = logging.getLogger(__name__)

LISTED, DROPPED, SWITCHED = "listed", "dropped", "switched"
STATUSES = (LISTED, DROPPED, SWITCHED)
EXCHANGE_LIST, NAME_AND_LIST_DATE = "exchange_list", "name_and_list_date"
#: Share of an exchange's listed codes that may drop out of its list in one load (unexplained).
MAX_DROP_SHARE = 0.05
#: Drops always allowed per exchange and load, whatever the share (small universes, tests).
MIN_DROPS_ALLOWED = 3

CHANGE_COLUMNS = ["old_symbol", "new_symbol", "change_date", "matched_by", "name", "list_date"]


@dataclass
class ListingUpdate:
    """What one securities load changes besides the rows themselves."""

    today: dt.date
    listed: list[str]                       # every code the lists showed today (quarantined ones too)
    changes: pd.DataFrame                   # CHANGE_COLUMNS, new rows only
    dropped: list[str] = field(default_factory=list)
    refused: dict[str, int] = field(default_factory=dict)  # exchange -> drops not applied (too many)

    def counts(self) -> dict:
        return {"switched": len(self.changes), "dropped": len(self.dropped),
                "drops_refused": sum(self.refused.values())}


def empty_changes() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype="object") for c in CHANGE_COLUMNS})


def plan_listing_update(conn: duckdb.DuckDBPyConnection, frame: pd.DataFrame, previous_codes: pd.DataFrame,
                        today: dt.date) -> ListingUpdate:
    """Compare today's lists (`frame`: normalized securities, every row the lists gave) with the
    stored universe. `previous_codes`: (old_symbol, new_symbol) pairs the BSE list itself named."""
    stored = conn.execute("SELECT symbol, exchange, name, list_date, coalesce(status, 'listed') AS status, "
                          "last_listed FROM securities").df()
    stored["list_date"] = pd.to_datetime(stored["list_date"]).dt.date
    known_old = {s for (s,) in conn.execute("SELECT old_symbol FROM symbol_changes").fetchall()}
    known_new = {s for (s,) in conn.execute("SELECT new_symbol FROM symbol_changes").fetchall()}
    listed = frame[["symbol", "exchange", "name", "list_date"]].astype(object).copy()
    listed["list_date"] = [None if pd.isna(d) else pd.Timestamp(d).date() for d in listed["list_date"]]
    listed_set = set(listed["symbol"])

    pairs = _from_exchange_list(previous_codes, listed, known_old)
    pairs = pd.concat([pairs, _by_name_and_list_date(listed, stored, known_old | set(pairs["old_symbol"]),
                                                     known_new | set(pairs["new_symbol"]))], ignore_index=True)
    changes = _with_change_dates(conn, pairs, stored, listed_set)

    switched = set(changes["old_symbol"])
    active = stored[stored["status"] == LISTED]
    gone = active[~active["symbol"].isin(listed_set) & ~active["symbol"].isin(switched)]
    dropped, refused = [], {}
    for exchange, rows in gone.groupby("exchange"):
        allowed = max(MIN_DROPS_ALLOWED, int(MAX_DROP_SHARE * (active["exchange"] == exchange).sum()))
        if len(rows) > allowed:
            refused[exchange] = len(rows)
            log.warning("securities: %d %s codes are missing from today's list (more than %d allowed at once); "
                        "they stay listed: the list looks incomplete (first: %s)", len(rows), exchange, allowed,
                        ", ".join(sorted(rows["symbol"])[:5]))
        else:
            dropped.extend(sorted(rows["symbol"]))
    return ListingUpdate(today, sorted(listed_set), changes, dropped, refused)


def _from_exchange_list(previous_codes: pd.DataFrame, listed: pd.DataFrame, known_old: set[str]) -> pd.DataFrame:
    if previous_codes is None or previous_codes.empty:
        return empty_changes()
    info = listed.set_index("symbol")
    rows = [(old, new, None, EXCHANGE_LIST, info.at[new, "name"], info.at[new, "list_date"])
            for old, new in zip(previous_codes["old_symbol"], previous_codes["new_symbol"])
            if old != new and old not in known_old and new in info.index]
    return pd.DataFrame(rows, columns=CHANGE_COLUMNS) if rows else empty_changes()


def _by_name_and_list_date(listed: pd.DataFrame, stored: pd.DataFrame, known_old: set[str],
                           known_new: set[str]) -> pd.DataFrame:
    """Old BSE codes (stored or still listed) and new 92xxxx codes of today's BSE list with the
    identical name and listing date, one on each side."""
    bse_listed = listed[listed["exchange"] == "BJ"]
    new = bse_listed[bse_listed["symbol"].str.startswith(NEW_BSE_PREFIX) & ~bse_listed["symbol"].isin(known_new)]
    old = pd.concat([bse_listed, stored[(stored["exchange"] == "BJ") & ~stored["symbol"].isin(bse_listed["symbol"])]
                     [["symbol", "exchange", "name", "list_date"]]], ignore_index=True)
    old = old[~old["symbol"].str.startswith(NEW_BSE_PREFIX) & ~old["symbol"].isin(known_old)]
    if new.empty or old.empty:
        return empty_changes()
    matched = old.dropna(subset=["list_date"]).merge(new.dropna(subset=["list_date"]), on=["name", "list_date"],
                                                     suffixes=("_old", "_new"))
    matched = matched[~matched["symbol_old"].duplicated(keep=False) & ~matched["symbol_new"].duplicated(keep=False)]
    return pd.DataFrame({"old_symbol": matched["symbol_old"], "new_symbol": matched["symbol_new"],
                         "change_date": None, "matched_by": NAME_AND_LIST_DATE, "name": matched["name"],
                         "list_date": matched["list_date"]})[CHANGE_COLUMNS].reset_index(drop=True)


def _with_change_dates(conn: duckdb.DuckDBPyConnection, pairs: pd.DataFrame, stored: pd.DataFrame,
                       listed_set: set[str]) -> pd.DataFrame:
    """change_date: the first trading day after the old code was last seen, i.e. after the later
    of its last stored bar and (when today's list no longer shows it) the last day a list did;
    for an old BSE code matched to a 920 code, not before `BSE_CODE_SWITCH_DATE` (a warehouse
    not updated for a while last saw the old code well before the switch). NULL when unknown."""
    if pairs.empty:
        return pairs
    olds = list(pairs["old_symbol"])
    last_bar = dict(conn.execute("SELECT symbol, max(trade_date) FROM daily_bars "
                                 "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) GROUP BY symbol", [olds]).fetchall())
    last_listed = {s: (None if pd.isna(d) else pd.Timestamp(d).date())
                   for s, d in zip(stored["symbol"], stored["last_listed"])}
    dates = []
    for old, new in zip(olds, pairs["new_symbol"]):
        bse_switch = BSE_CODE_SWITCH_DATE if new.startswith(NEW_BSE_PREFIX) and not old.startswith(NEW_BSE_PREFIX) \
            else None
        seen = [d for d in (last_bar.get(old), None if old in listed_set else last_listed.get(old)) if d is not None]
        after = None
        if seen:
            rows = conn.execute("SELECT min(trade_date) FROM trading_calendar WHERE market = 'CN' AND trade_date > ?",
                                [max(seen)]).fetchall()
            after = rows[0][0] if rows else None
        known = [d for d in (after, bse_switch) if d is not None]
        dates.append(max(known) if known else None)
    return pairs.assign(change_date=dates)


def apply_listing_update(conn: duckdb.DuckDBPyConnection, update: ListingUpdate, lineage) -> None:
    """Write statuses and new symbol changes; run inside the securities upsert's transaction."""
    conn.execute("UPDATE securities SET last_listed = ?, status = 'listed' "
                 "WHERE symbol IN (SELECT unnest(?::VARCHAR[])) AND coalesce(status, 'listed') <> 'switched'",
                 [update.today, update.listed])
    if update.dropped:
        conn.execute("UPDATE securities SET status = 'dropped' WHERE symbol IN (SELECT unnest(?::VARCHAR[]))",
                     [update.dropped])
    if update.changes.empty:
        return
    changes = update.changes.astype(object).where(update.changes.notna(), None)
    for row in changes.itertuples(index=False):
        conn.execute(
            "INSERT INTO symbol_changes VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (old_symbol) DO NOTHING",
            [row.old_symbol, row.new_symbol, row.change_date, row.matched_by, row.name, row.list_date,
             lineage.source, lineage.run_id, lineage.ingested_at])
    conn.execute("UPDATE securities SET status = 'switched' WHERE symbol IN (SELECT unnest(?::VARCHAR[]))",
                 [list(changes["old_symbol"])])

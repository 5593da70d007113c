"""Schedules, in Shanghai time, that consult the trading calendar in the warehouse.

Each is STOPPED until you turn it on in the UI (Automation tab): a schedule that starts by
itself would call the data vendors the moment a newcomer runs `dagster dev`. The calendar
is data, not code: a holiday announced after this was written is in the SSE calendar the
reference job loads, and the nightly tick skips it, saying why.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, SkipReason, schedule

from quantdb_pipeline.jobs import daily_bars_job, financials_job, hk_daily_bars_job, profiles_job, reference_job
from quantdb_pipeline.settings import MARKET_TIMEZONE

#: Symbols whose earlier quote-list bars are refetched from history and compared, each night:
#: every symbol comes round in turn, and upstream's late corrections are absorbed that way.
NIGHTLY_RECONCILE_SYMBOLS = 20


def trading_day_verdict(day: dt.date, market: str = "CN") -> str | None:
    """None if `day` is a trading day of `market`'s calendar ("CN": SSE, "HK": HKEX) in the
    warehouse and a partition of that market's bars, else why not.

    Read from the pipeline's working file, else the published one (`warehouse.planning`), so
    that a BI tool holding the published file read-write does not cost the night's run; when
    both are locked, the reason names the locks and the processes holding them. A day the
    stored calendar trades but the partitions exclude (a calendar shipped with an older
    library) is skipped too: Dagster refuses a run for a partition that does not exist.
    """
    import duckdb

    from quantdb_pipeline import read
    from quantdb_pipeline.partitions import HK_DAYS, SSE_DAYS
    from quantdb_pipeline.read.calendars import trading_days_on
    from quantdb_pipeline.warehouse.planning import planning_connection

    exchange, partitions = ("HKEX", HK_DAYS) if market == "HK" else ("SSE", SSE_DAYS)
    try:
        with planning_connection() as conn:
            days = trading_days_on(conn, day - dt.timedelta(days=400), day + dt.timedelta(days=400), market=market)
    except read.WarehouseNotFoundError:
        return "no warehouse yet: run reference_job (or `quantdb-pipeline run`) first"
    except read.WarehouseBusyError as error:
        return f"cannot read the trading calendar: {error}"
    except duckdb.CatalogException:  # a working file a first run left before creating the tables
        return "no trading calendar in the warehouse yet: run reference_job (or `quantdb-pipeline run`) first"
    if not days or days[-1] < day:
        last = days[-1] if days else "nowhere"
        return f"the {exchange} trading calendar in the warehouse ends at {last}: refresh it with reference_job"
    if day not in days:
        if day.weekday() >= 5:
            return f"{day} is a {day:%A}: no trading"
        return f"{day} ({day:%A}) is not a trading day of the {exchange} calendar: an exchange holiday"
    if not partitions.is_session(day):
        return (
            f"{day} is a trading day of the stored {exchange} calendar but no partition of its bars (the "
            "partitions follow the calendar the installed libraries ship): upgrade akshare/exchange_calendars"
        )
    return None


def _local_day(context: ScheduleEvaluationContext) -> dt.date:
    return context.scheduled_execution_time.astimezone(ZoneInfo(MARKET_TIMEZONE)).date()


def _day_run(
    context: ScheduleEvaluationContext,
    key: str,
    market: str | None = None,
    tags: dict[str, str] | None = None,
    **request,
) -> RunRequest | SkipReason:
    """The run of the tick's day (Shanghai): run key `<key>-<day>` (one run per day, however often
    the tick is evaluated), tagged `quantdb/scheduled_for`, plus `tags` and `request` (run_config).
    With `market` ("CN" or "HK"), the run of that day's partition, skipped saying why unless the
    day is a trading day of the market (`trading_day_verdict`)."""
    day = _local_day(context)
    if market is not None:
        reason = trading_day_verdict(day, market=market)
        if reason:
            return SkipReason(reason)
        request["partition_key"] = day.isoformat()
    return RunRequest(
        run_key=f"{key}-{day}", tags={"quantdb/scheduled_for": day.isoformat(), **(tags or {})}, **request
    )


@schedule(
    job=reference_job,
    cron_schedule="30 16 * * 1-5",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="16:30 Shanghai, Monday..Friday: the calendar and the security lists (about 34 "
    "requests, 26 of them the HK main-board list's pages).",
)
def reference_schedule(context: ScheduleEvaluationContext):
    return _day_run(context, "reference")


@schedule(
    job=daily_bars_job,
    cron_schedule="0 17 * * 1-5",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="17:00 Shanghai on SSE trading days: the day's bars from the whole-market quote list "
    "(a rotating sample reconciled against history), stale factors and index bars; "
    "skips holidays by the calendar in the warehouse (HK: nightly_hk_bars_schedule).",
)
def nightly_bars_schedule(context: ScheduleEvaluationContext):
    return _day_run(
        context,
        "bars",
        market="CN",
        run_config={"ops": {"daily_bars": {"config": {"spot": True, "reconcile_symbols": NIGHTLY_RECONCILE_SYMBOLS}}}},
    )


@schedule(
    job=hk_daily_bars_job,
    cron_schedule="30 17 * * 1-5",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="17:30 Shanghai on HKEX trading days (HKEX closes at 16:10 local = Shanghai time): the day's "
    "HK bars from the main-board quote list (5 symbols reconciled against history) and the HK factors that "
    "are due or signalled; skips HKEX holidays by the HK calendar in the "
    "warehouse. Its own job: HK bars are partitioned by HKEX sessions, not SSE ones.",
)
def nightly_hk_bars_schedule(context: ScheduleEvaluationContext):
    return _day_run(context, "hk-bars", market="HK")


@schedule(
    job=profiles_job,
    cron_schedule="30 18 * * 1-5",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="18:30 Shanghai, Monday..Friday, after the nightly bars: every profile from the quote list "
    "the bars step stored (0 requests; about 56 when it did not fetch one). The weekly refresh "
    "is left to weekly_profiles_schedule, so it never adds to a trading night.",
)
def nightly_profiles_schedule(context: ScheduleEvaluationContext):
    return _day_run(
        context, "profiles", run_config={"ops": {"security_profiles": {"config": {"weekly_refresh": False}}}}
    )


@schedule(
    job=profiles_job,
    cron_schedule="0 10 * * 6",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="10:00 Shanghai, Saturday: the weekly refresh of industry boards and name history (about "
    "120 requests), on a night without trading, and the profiles (0 requests: no session since "
    "the last quote list).",
)
def weekly_profiles_schedule(context: ScheduleEvaluationContext):
    return _day_run(context, "profiles-weekly")


@schedule(
    job=financials_job,
    cron_schedule="0 20 * * *",
    execution_timezone=MARKET_TIMEZONE,
    default_status=DefaultScheduleStatus.STOPPED,
    description="20:00 Shanghai daily while a disclosure window is open: reports that can be new.",
)
def financials_schedule(context: ScheduleEvaluationContext):
    from quantdb_pipeline.loaders.fundamentals import open_report_periods
    from quantdb_pipeline.market_rules import statutory_deadline

    day = _local_day(context)
    periods = open_report_periods(day)
    if not periods:
        return SkipReason(f"{day}: no disclosure window is open (the next opens after the next quarter end)")
    windows = ", ".join(f"{p} due by {statutory_deadline(p)}" for p in periods)
    return _day_run(context, "financials", tags={"quantdb/open_reports": windows})

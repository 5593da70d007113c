"""The real source: akshare, paced and retried. The only module that imports akshare.

akshare is imported on first use, not at module import: it takes seconds to import and
definition loading must stay fast.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd

from quantdb_pipeline.settings import DEFAULT_MAX_RETRIES, DEFAULT_REQUESTS_PER_SECOND, MARKET_TIMEZONE
from quantdb_pipeline.sources.base import (
    REPORT_TABLES,
    HkFactorFrames,
    ListingFrames,
    bundled_sse_calendar,
)
from quantdb_pipeline.sources.pacing import RateLimiter, UnreadableAnswer, call_with_retries
from quantdb_pipeline.sources.request_counting import counting, note_source
from quantdb_pipeline.symbols import exchange_of, index_exchange

log = logging.getLogger(__name__)

#: Daily bars are final some time after the 15:00 close; before this, "today" is yesterday.
BARS_FINAL_AFTER = dt.time(15, 30)


class AkshareSource:
    """Implements `MarketSource` with akshare 1.19.5.

    `requests` counts HTTP requests, not akshare calls: every request `requests` sends inside
    `_call(endpoint, ...)` (pages, akshare's own retries, ours) counts once under `endpoint`
    (see `request_counting`).
    """

    name = "akshare"

    def __init__(
        self,
        requests_per_second: float = DEFAULT_REQUESTS_PER_SECOND,
        timeout_seconds: float = 15.0,
        max_retries: int = DEFAULT_MAX_RETRIES,
        backoff_seconds: float = 2.0,
        now: Callable[[], dt.datetime] | None = None,
        sleep: Callable[[float], None] | None = None,
        limiter: RateLimiter | None = None,
    ):
        """`limiter`: the spacing of requests shared with the process's other sources (the
        market resource passes its own, one per rate); None: a limiter of this source's own."""
        import time

        self.requests: Counter = Counter()
        self.timeout_seconds = timeout_seconds
        self.max_retries = max_retries
        self.backoff_seconds = backoff_seconds
        self._sleep = sleep or time.sleep
        self._limiter = limiter or RateLimiter(requests_per_second, sleep=self._sleep)
        self._now = now or (lambda: dt.datetime.now(ZoneInfo(MARKET_TIMEZONE)))
        note_source(self)  # an asset step reports the requests of the sources it built

    @staticmethod
    def _ak():
        import akshare

        return akshare

    def _call(self, endpoint: str, what: str, fn: Callable[..., Any], *args, **kwargs) -> Any:
        # Several akshare list functions are wrapped in functools.lru_cache; a long-lived
        # process would then serve yesterday's universe. Call the function underneath.
        fn = getattr(fn, "__wrapped__", fn)

        def attempt():
            with counting(self.requests, endpoint, pace=self._limiter.wait):  # paces each HTTP request
                return fn(*args, **kwargs)

        return call_with_retries(
            attempt,
            what=f"{endpoint}({what})",
            max_retries=self.max_retries,
            base_delay=self.backoff_seconds,
            sleep=self._sleep,
        )

    # -- MarketSource -------------------------------------------------------------------

    def now(self) -> dt.datetime:
        """The wall clock, in Asia/Shanghai."""
        return self._now()

    def today(self) -> dt.date:
        now = self._now()
        return now.date() if now.time() >= BARS_FINAL_AFTER else now.date() - dt.timedelta(days=1)

    def trading_calendar_raw(self) -> pd.DataFrame:
        """Sina's calendar; akshare's bundled `calendar.json` when sina is unreachable."""
        ak = self._ak()
        try:
            return self._call("tool_trade_date_hist_sina", "", ak.tool_trade_date_hist_sina)
        except Exception as error:  # noqa: BLE001 - any failure falls back to the bundled file
            log.warning("sina trading calendar unavailable (%s); using akshare's bundled calendar.json", error)
            # read by the trading_calendar step, which says so in the run's warnings (the CLI's summary)
            self.calendar_fallback = f"{type(error).__name__}: {error}"
            return pd.DataFrame({"trade_date": bundled_sse_calendar()})

    def listings_raw(self) -> ListingFrames:
        ak = self._ak()
        return ListingFrames(
            sh_main=self._call("stock_info_sh_name_code", "主板A股", ak.stock_info_sh_name_code, symbol="主板A股"),
            sh_star=self._call("stock_info_sh_name_code", "科创板", ak.stock_info_sh_name_code, symbol="科创板"),
            sz=self._call("stock_info_sz_name_code", "A股列表", ak.stock_info_sz_name_code, symbol="A股列表"),
            bj=self._call("stock_info_bj_name_code", "", ak.stock_info_bj_name_code),
            sh_delisted=self._call("stock_info_sh_delist", "全部", ak.stock_info_sh_delist, symbol="全部"),
            sz_delisted=self._call(
                "stock_info_sz_delist", "终止上市公司", ak.stock_info_sz_delist, symbol="终止上市公司"
            ),
        )

    def a_share_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ak = self._ak()
        return self._call(
            "stock_zh_a_hist",
            symbol,
            ak.stock_zh_a_hist,
            symbol=symbol,
            period="daily",
            start_date=start.strftime("%Y%m%d"),
            end_date=end.strftime("%Y%m%d"),
            adjust="",
            timeout=self.timeout_seconds,
        )

    def a_share_spot_raw(self) -> pd.DataFrame:
        """eastmoney's quote list of every A-share, one request per 100 rows (akshare pages and
        paces them itself, 0.5..1.5 s apart, and retries each page up to three times)."""
        ak = self._ak()
        return self._call("stock_zh_a_spot_em", "", ak.stock_zh_a_spot_em)

    def adjustment_factors_raw(self, symbol: str) -> pd.DataFrame:
        """sina's hfq factors. akshare evaluates sina's script text; an error page fails that
        parse, which is retried like a network error."""
        ak = self._ak()

        def factors(**kwargs):
            try:
                return ak.stock_zh_a_daily(**kwargs)
            except ValueError as error:
                if "factor not available" in str(error):
                    return pd.DataFrame()
                raise
            except (SyntaxError, IndexError, NameError, KeyError, TypeError) as error:
                raise UnreadableAnswer(f"sina hfq factors for {symbol}: unreadable answer ({error!r})") from error

        return self._call(
            "stock_zh_a_daily_hfq_factor",
            symbol,
            factors,
            symbol=exchange_of(symbol).lower() + symbol,
            adjust="hfq-factor",
        )

    def dividends_raw(self, period: dt.date) -> pd.DataFrame:
        """eastmoney's whole-market dividend table for one report period (`stock_fhps_em`), 500
        rows a page. A period without rows answers `"result": null` (code 9201), on which
        akshare fails subscripting None: that is an empty frame, not an error."""
        ak = self._ak()
        return self._call(
            "stock_fhps_em", period.strftime("%Y%m%d"), _none_is_empty(ak.stock_fhps_em), date=period.strftime("%Y%m%d")
        )

    def hk_trading_calendar_raw(self) -> pd.DataFrame:
        """No akshare endpoint serves HKEX's calendar; `exchange_calendars` does (see `calendars`)."""
        from quantdb_pipeline.sources.calendars import hk_trading_days

        return pd.DataFrame({"trade_date": list(hk_trading_days())})

    def hk_listings_raw(self) -> pd.DataFrame:
        """The main board list: lighter than `stock_hk_spot_em` (no GEM), paged by akshare."""
        ak = self._ak()
        return self._call("stock_hk_main_board_spot_em", "", ak.stock_hk_main_board_spot_em)

    def hk_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ak = self._ak()
        return self._call(
            "stock_hk_hist",
            symbol,
            _none_is_empty(ak.stock_hk_hist),
            symbol=symbol,
            period="daily",
            start_date=start.strftime("%Y%m%d"),
            end_date=end.strftime("%Y%m%d"),
            adjust="",
        )

    def hk_adjustment_factors_raw(self, symbol: str) -> HkFactorFrames:
        """sina's HK hfq and qfq factor scripts: two upstream requests per symbol.

        Fetched at the URLs akshare 1.19.5 keeps (`akshare.stock.cons.hk_sina_stock_hist_hfq_url`
        and `..._qfq_url`) and read as its `stock_hk_daily(adjust="hfq-factor"/"qfq-factor")`
        reads them: the text between the first "=" and the line end is a literal
        `{"total": n, "data": [{"d": date, "f": factor[, "c": cash]}]}`, its columns named by
        position (date, hfq_factor, cash / date, qfq_factor). Not through `stock_hk_daily`
        itself: it first downloads and decodes (in V8) the symbol's whole unadjusted history
        (`klc2_kl.js`), which the factors do not use, so each kind would cost two requests and
        a symbol four (10,400 for a first load of 2,600 HK symbols instead of 5,200). The price
        is owning this small parse; the tests hold it to akshare's: our adjusted prices equal
        `stock_hk_daily(adjust="qfq"/"hfq")` for the same sina answers (HTTP fakes).

        A script whose `data` is empty means no factors (an empty frame); an HTTP error or an
        answer that is not such a literal (an error page) is retried like a network error.
        """
        import ast

        import requests
        from akshare.stock import cons

        def script(kind: str, url: str, columns: list[str]) -> pd.DataFrame:
            def fetch() -> pd.DataFrame:
                answer = requests.get(url.format(symbol), timeout=self.timeout_seconds)
                answer.raise_for_status()
                try:
                    data = ast.literal_eval(answer.text.split("=", 1)[1].split("\n")[0])["data"]
                    frame = pd.DataFrame(data)
                    if frame.empty:
                        return pd.DataFrame()
                    frame.columns = columns
                except (IndexError, KeyError, TypeError, ValueError, SyntaxError) as error:
                    raise UnreadableAnswer(
                        f"sina HK {kind} factors for {symbol}: unreadable answer ({answer.text[:80]!r}: {error!r})"
                    ) from error
                frame["date"] = pd.to_datetime(frame["date"]).dt.date
                return frame

            return self._call(f"sina_hk_{kind}_factor_js", symbol, fetch)

        return HkFactorFrames(
            hfq=script("hfq", cons.hk_sina_stock_hist_hfq_url, ["date", "hfq_factor", "cash"]),
            qfq=script("qfq", cons.hk_sina_stock_hist_qfq_url, ["date", "qfq_factor"]),
        )

    def index_daily_raw(self, symbol: str, start: dt.date, end: dt.date) -> pd.DataFrame:
        ak = self._ak()
        return self._call(
            "stock_zh_index_daily_em",
            symbol,
            _none_is_empty(ak.stock_zh_index_daily_em),
            symbol=index_exchange(symbol).lower() + symbol,
            start_date=start.strftime("%Y%m%d"),
            end_date=end.strftime("%Y%m%d"),
        )

    def individual_info_raw(self, symbol: str) -> pd.DataFrame:
        ak = self._ak()
        return self._call(
            "stock_individual_info_em", symbol, ak.stock_individual_info_em, symbol=symbol, timeout=self.timeout_seconds
        )

    def industry_boards_raw(self) -> pd.DataFrame:
        ak = self._ak()
        return self._call("stock_board_industry_name_em", "", ak.stock_board_industry_name_em)

    def industry_constituents_raw(self, board_code: str) -> pd.DataFrame:
        """Asked by board code: given a board name, akshare would first fetch the board list again
        to look the code up. A board without constituents makes akshare divide by its empty first
        page (ZeroDivisionError): that is an empty frame."""
        ak = self._ak()

        def constituents(**kwargs) -> pd.DataFrame:
            try:
                return ak.stock_board_industry_cons_em(**kwargs)
            except ZeroDivisionError:
                return pd.DataFrame()

        return self._call("stock_board_industry_cons_em", board_code, constituents, symbol=board_code)

    def sz_name_changes_raw(self) -> pd.DataFrame:
        ak = self._ak()
        return self._call("stock_info_sz_change_name", "简称变更", ak.stock_info_sz_change_name, symbol="简称变更")

    def former_names_raw(self, symbol: str) -> pd.DataFrame:
        ak = self._ak()
        return self._call("stock_info_change_name", symbol, ak.stock_info_change_name, symbol=symbol)

    def statement_raw(self, symbol: str, statement: str) -> pd.DataFrame:
        """One statement: akshare asks for the list of report dates, then 5 reports a request (and
        the company type once per symbol and process): 1 + ceil(reports / 5) requests, or 2 + that."""
        ak = self._ak()
        fn = {
            "balance": ak.stock_balance_sheet_by_report_em,
            "income": ak.stock_profit_sheet_by_report_em,
            "cash_flow": ak.stock_cash_flow_sheet_by_report_em,
        }[statement]
        return self._call(fn.__name__, symbol, fn, symbol=exchange_of(symbol) + symbol)

    def financial_abstract_raw(self, symbol: str) -> pd.DataFrame:
        ak = self._ak()
        return self._call("stock_financial_abstract", symbol, ak.stock_financial_abstract, symbol=symbol)

    def report_table_raw(self, table: str, period: dt.date) -> pd.DataFrame:
        """eastmoney's whole-market report table `table` (see `REPORT_TABLES`) for one report
        period: akshare asks page 1 for the page count, then every page of 500 rows. akshare
        names the columns by position and coerces them to numbers: a field eastmoney adds or
        drops makes akshare fail renaming (the period is recorded failed and asked again next
        run); a reordered field would load another field's numbers, which only the quality
        rules (balance identity, announced after the period) can catch. A period without rows
        answers `"result": null` (code 9201), on which akshare fails subscripting None: that
        is an empty frame, not an error."""
        endpoint = REPORT_TABLES[table]
        fn = getattr(self._ak(), endpoint)
        date = period.strftime("%Y%m%d")
        return self._call(endpoint, date, _none_is_empty(fn), date=date)


def _none_is_empty(fn: Callable[..., pd.DataFrame]) -> Callable[..., pd.DataFrame]:
    """eastmoney answers a window without bars with `"data": null`, on which some akshare
    functions fail subscripting None: that answer is an empty frame."""

    def call(**kwargs) -> pd.DataFrame:
        try:
            return fn(**kwargs)
        except TypeError as error:
            if "NoneType" in str(error) and "subscriptable" in str(error):
                return pd.DataFrame()
            raise

    return call

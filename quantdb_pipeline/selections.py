"""Which assets a job, `quantdb-pipeline run --markets` and the publish step select: by each asset's
group and its `quantdb/market` tag, never by a list of asset names.

Every dataset's asset says its market where it is defined (`tags=market_tags("cn")`); its checks
ride with it (`check_specs`). So a new dataset joins its market's CLI runs, its exchange's range
job and `published_warehouse`'s dependencies by being defined in an asset module of
`quantdb_pipeline.assets`; nothing here, in `jobs` or in the CLI names it.

The markets (the tag's values and the words of `--markets`), each with the exchange whose
trading days partition its runs (`range_runs.PlannedRun.market`, `read.MARKETS`):

    cn            A-share calendar, securities, bars, corporate actions, adjustment factors   CN (SSE)
    hk            HK calendar, securities, bars, adjustment factors                          HK (HKEX)
    index         CN index bars                                                              CN (SSE)
    fundamentals  A-share profiles, financial statements and indicators                      CN (SSE)

`published_warehouse` (group `publish`) is of no market: it publishes them all.
"""

from __future__ import annotations

from collections.abc import Iterable

from dagster import AssetSelection

MARKET_TAG = "quantdb/market"
#: market -> the exchange whose sessions partition it ("CN": SSE, "HK": HKEX), in the CLI's order.
MARKETS = {"cn": "CN", "hk": "HK", "index": "CN", "fundamentals": "CN"}
PUBLISH_GROUP = "publish"


def market_tags(market: str) -> dict[str, str]:
    """The tags of a dataset of `market`, for its asset decorator's `tags=`. Raises ValueError
    naming the known markets for any other word (a typo would leave the asset out of every run)."""
    if market not in MARKETS:
        raise ValueError(f"market {market!r} is not a market: choose from {', '.join(MARKETS)}")
    return {MARKET_TAG: market}


def of_markets(markets: Iterable[str]) -> AssetSelection:
    """The datasets of `markets` (words of `MARKETS`), nothing else."""
    selections = [AssetSelection.tag(MARKET_TAG, market) for market in markets]
    if not selections:
        raise ValueError(f"no market named: choose from {', '.join(MARKETS)}")
    selection = selections[0]
    for other in selections[1:]:
        selection = selection | other
    return selection


def of_exchange(exchange: str) -> AssetSelection:
    """The datasets whose runs the sessions of `exchange` ("CN" or "HK") partition."""
    return of_markets(market for market, of in MARKETS.items() if of == exchange)


#: Every dataset: each asset of a market, that is every asset but `published_warehouse`.
DATASETS = of_markets(MARKETS)
#: The reference data: the datasets that read no other dataset (each market's trading calendar and
#: security list), which the other datasets of their market read.
REFERENCE = DATASETS.roots()
#: `published_warehouse`, which every job ends with.
PUBLISH = AssetSelection.groups(PUBLISH_GROUP)


def for_run(markets: Iterable[str]) -> AssetSelection:
    """What `quantdb-pipeline run --markets ...` loads: the datasets of `markets` and the reference
    data they read (index: the SSE calendar; fundamentals: the A-share calendar and securities)."""
    chosen = of_markets(markets)
    return chosen | (chosen.upstream() & REFERENCE)

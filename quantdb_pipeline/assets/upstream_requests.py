"""What a set of runs asked upstream, per asset and endpoint, read back from their event logs.

One home for the tally that `published_warehouse` puts on its run (tag
`quantdb/upstream_requests`) and in its metadata, and that the CLI prints: the same function
over the same runs gives the same figures everywhere.

Each dataset asset reports its step's requests once (`outcome.request_metadata`: the total,
and "endpoint n, ..." by endpoint). A range run repeats an asset's materialization per
partition, each a copy of the same metadata: it is counted once per asset and run, never per
copy. A step that crashed reports its requests on an observation instead. A run named twice
(a publish covering earlier runs, see `publish.PUBLISHES_RUNS_TAG`) counts once.
"""

from __future__ import annotations

from collections import Counter

from dagster import DagsterEventType

#: The endpoint named for a count recorded without its endpoints (runs of earlier versions).
UNRECORDED = "(endpoints not recorded)"


def requests_by_asset(instance, run_ids: list[str]) -> dict[str, Counter]:
    """asset -> Counter(endpoint -> requests), over the distinct `run_ids`; assets that asked
    nothing are present with an empty Counter when they reported 0."""
    found: dict[str, Counter] = {}
    for run_id in dict.fromkeys(run_ids):
        in_run = _materialized(instance, run_id)
        for asset, counts in _crashed(instance, run_id).items():
            in_run.setdefault(asset, counts)
        for asset, counts in in_run.items():
            found.setdefault(asset, Counter()).update(counts)
    return dict(sorted(found.items()))


def total(by_asset: dict[str, Counter]) -> int:
    return sum(sum(counts.values()) for counts in by_asset.values())


def markdown(by_asset: dict[str, Counter]) -> str:
    """| asset | requests | by endpoint |, one row per asset, then the total."""
    lines = ["| asset | requests | by endpoint |", "|---|---:|---|"]
    lines += [f"| {asset} | {sum(c.values()):,} | {_endpoints(c)} |" for asset, c in by_asset.items()]
    lines.append(f"| **total** | **{total(by_asset):,}** | |")
    return "\n".join(lines)


def text_table(by_asset: dict[str, Counter], indent: str = "  ") -> list[str]:
    """The same as plain text lines, for a terminal."""
    width = max([len(a) for a in by_asset] + [len("total")])
    lines = [f"{indent}{asset:<{width}}  {sum(c.values()):>6}  {_endpoints(c)}" for asset, c in by_asset.items()]
    return lines + [f"{indent}{'total':<{width}}  {total(by_asset):>6}"]


def parse_endpoints(total_requests: int, text: str | None) -> Counter:
    """The Counter behind `upstream_requests` and `upstream_requests_by_endpoint` ("a 3, b 2")."""
    counts: Counter = Counter()
    if text and text != "none":
        for item in text.split(", "):
            endpoint, _, n = item.rpartition(" ")
            counts[endpoint] += int(n)
    missing = total_requests - sum(counts.values())
    if missing > 0:
        counts[UNRECORDED] += missing
    return counts


def _endpoints(counts: Counter) -> str:
    return ", ".join(f"{e} {n:,}" for e, n in sorted(counts.items()) if n) or "none"


def _counts(metadata) -> Counter | None:
    value = metadata.get("upstream_requests")
    if value is None:
        return None
    text = metadata.get("upstream_requests_by_endpoint")
    return parse_endpoints(int(value.value), text.value if text is not None else None)


def _materialized(instance, run_id: str) -> dict[str, Counter]:
    """asset -> counts of the first materialization of each asset in the run (paged: a 10-year
    range writes ~2,400 copies)."""
    found: dict[str, Counter] = {}
    cursor = None
    while True:
        page = instance.get_records_for_run(
            run_id=run_id, cursor=cursor, limit=1000, of_type=DagsterEventType.ASSET_MATERIALIZATION
        )
        for record in page.records:
            materialization = record.event_log_entry.asset_materialization
            if materialization is None:
                continue
            asset = materialization.asset_key.to_user_string()
            if asset not in found:
                counts = _counts(materialization.metadata)
                if counts is not None:
                    found[asset] = counts
        if not page.has_more:
            return found
        cursor = page.cursor


def _crashed(instance, run_id: str) -> dict[str, Counter]:
    """asset -> counts that a crashed step recorded on an observation (`outcome.settle_dataset`)."""
    found: dict[str, Counter] = {}
    records = instance.get_records_for_run(
        run_id=run_id, of_type=DagsterEventType.ASSET_OBSERVATION, limit=10_000
    ).records
    for record in records:
        data = record.event_log_entry.dagster_event.event_specific_data
        observation = data.asset_observation if data is not None else None
        if observation is None:
            continue
        counts = _counts(observation.metadata)
        if counts is not None:
            found.setdefault(observation.asset_key.to_user_string(), counts)
    return found

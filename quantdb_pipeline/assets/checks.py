"""Suite outcomes as Dagster asset check results: which rule failed, how many rows, examples."""

from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MetadataValue

from quantdb_pipeline.quality.expectations import FAIL, QUARANTINE, SuiteOutcome


def suite_check(name: str, asset: str, description: str) -> AssetCheckSpec:
    """A quality suite as a check. Not blocking: the gate itself refuses a failing batch before
    anything is written (`GateFailed`), so the other datasets' checked rows can still be published;
    the refused dataset keeps its last good rows and fails its `load_complete` check (see `outcome`)."""
    return AssetCheckSpec(name, asset=asset, blocking=False, description=description)


def check_result(name: str, outcome: SuiteOutcome | None, extra: dict | None = None) -> AssetCheckResult:
    """`outcome` is a load report's; a report holds None until its suite ran, which every load does
    at least once (on an empty frame when nothing was fetched)."""
    if outcome is None:
        raise ValueError(f"{name}: the load reported no outcome of its quality suite")
    failed = outcome.failed
    blocking = any(o.action == FAIL for o in failed)
    metadata = {
        "rows_checked": outcome.rows,
        "rules": len(outcome.outcomes),
        "failed_rules": ", ".join(f"{o.rule} ({o.unexpected_count})" for o in failed) or "none",
        "rows_quarantined": len(outcome.quarantined_rows()),
        "results": MetadataValue.md(outcome.summary_table()),
        **(extra or {}),
    }
    quarantined = [o for o in failed if o.action == QUARANTINE]
    description = (
        "every rule passed"
        if not failed
        else "batch refused: " + ", ".join(o.rule for o in failed if o.action == FAIL)
        if blocking
        else f"{metadata['rows_quarantined']} rows quarantined"
        + (f" ({', '.join(o.rule for o in quarantined)})" if quarantined else "")
        + (
            f"; warnings: {', '.join(o.rule for o in failed if o.action not in (FAIL, QUARANTINE))}"
            if any(o.action not in (FAIL, QUARANTINE) for o in failed)
            else ""
        )
    )
    return AssetCheckResult(
        check_name=name,
        passed=not failed,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        metadata=metadata,
        description=description,
    )

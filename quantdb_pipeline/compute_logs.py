"""Compute logs (a step's captured stdout/stderr) that do not pile up: Dagster's local manager
plus a retention in days, set in dagster.yaml.

Why: Dagster 1.13's `LocalComputeLogManager` has no retention setting, and keeps every run's
captured output under `.dagster/compute_logs/<run id>/` for ever. Only runs launched from the UI,
a schedule or a sensor are captured (the CLI runs without capture, see `cli._instance`), so this
is the smaller part of what grows (`instance_retention` says what the rest is and prunes runs).

    compute_logs:
      module: quantdb_pipeline.compute_logs
      class: RetainedLocalComputeLogManager
      config: {base_dir: .dagster/compute_logs, retention_days: 30}

Each time a step's capture starts (at most once an hour per process), the run directories whose
newest file is older than `retention_days` are deleted; 0 keeps everything. Reading, layout and
the UI's log view are Dagster's own.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Generator, Sequence
from contextlib import contextmanager

from dagster import Field, IntSource
from dagster._core.storage.local_compute_log_manager import LocalComputeLogManager

DAY_SECONDS = 86_400
#: Seconds between two sweeps of one process (a run of many steps sweeps once).
SWEEP_INTERVAL_SECONDS = 3_600


class RetainedLocalComputeLogManager(LocalComputeLogManager):
    """`LocalComputeLogManager` that deletes run directories idle for more than `retention_days`."""

    def __init__(self, base_dir: str, polling_timeout: float | None = None, inst_data=None, retention_days: int = 30):
        super().__init__(base_dir, polling_timeout=polling_timeout, inst_data=inst_data)
        if retention_days < 0:
            raise ValueError(f"compute_logs retention_days={retention_days}: give 0 (keep all) or more days")
        self.retention_days = retention_days
        self._last_sweep = float("-inf")

    @classmethod
    def config_type(cls):
        return {**super().config_type(), "retention_days": Field(IntSource, is_required=False, default_value=30)}

    @classmethod
    def from_config_value(cls, inst_data, config_value):  # noqa: D102 - Dagster's ConfigurableClass hook
        return cls(inst_data=inst_data, **config_value)

    @contextmanager
    def capture_logs(self, log_key: Sequence[str]) -> Generator:
        if time.monotonic() - self._last_sweep >= SWEEP_INTERVAL_SECONDS:
            self._last_sweep = time.monotonic()
            self.sweep(keep=log_key[0] if log_key else None)
        with super().capture_logs(log_key) as context:
            yield context

    def sweep(self, now: float | None = None, keep: str | None = None) -> list[str]:
        """Delete the run directories whose newest file is older than `retention_days` (never `keep`,
        the run being captured); the names deleted. Errors (a file vanishing meanwhile) are skipped."""
        if not self.retention_days or not os.path.isdir(self._base_dir):
            return []
        cutoff = (now or time.time()) - self.retention_days * DAY_SECONDS
        deleted = []
        for entry in os.scandir(self._base_dir):
            if not entry.is_dir() or entry.name == keep:
                continue
            try:
                newest = max(
                    (
                        os.path.getmtime(os.path.join(root, name))
                        for root, _, names in os.walk(entry.path)
                        for name in names
                    ),
                    default=entry.stat().st_mtime,
                )
                if newest < cutoff:
                    shutil.rmtree(entry.path)
                    deleted.append(entry.name)
            except OSError:
                continue
        return deleted

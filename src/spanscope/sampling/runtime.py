"""Sampling's part of ``spanscope serve``: config, tail sampler, rules, retention job.

The server makes one :class:`SamplingRuntime` before opening the store (so a bad config
file stops it at start with the bad key named), passes ``runtime.sampler`` to the ingest
pipeline, calls :meth:`SamplingRuntime.start` once the pipeline runs (the retention job)
and :meth:`attach` on the API app, which reads it from ``app.state.sampling``
(:mod:`spanscope.api.sampling`; an app built without it answers those endpoints 404).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spanscope.sampling.config import ConfigError, ServerConfig, load_config
from spanscope.sampling.retention import RetentionJob
from spanscope.sampling.rules import RulesStore
from spanscope.sampling.tail import TailSampler


@dataclass
class SamplingRuntime:
    data_dir: Path
    config: ServerConfig
    sampler: TailSampler | None
    rules: RulesStore
    store: Any = None
    pipeline: Any = None
    retention: RetentionJob | None = field(default=None)

    @classmethod
    def load(cls, config_file: Path | None, data_dir: Path) -> SamplingRuntime:
        """Read and validate ``--config``; a mistake exits naming the key."""
        try:
            config = load_config(config_file)
        except ConfigError as exc:
            raise SystemExit(str(exc)) from None
        sampler = TailSampler(config.tail_sampling) if config.tail_sampling else None
        return cls(Path(data_dir), config, sampler, RulesStore(Path(data_dir)))

    def start(self, store: Any, pipeline: Any) -> None:
        self.store = store
        self.pipeline = pipeline
        self.retention = RetentionJob(store, self.config.retention)
        self.retention.start()

    def stop(self) -> None:
        if self.retention is not None:
            self.retention.stop()

    def attach(self, app: Any) -> None:
        app.state.sampling = self

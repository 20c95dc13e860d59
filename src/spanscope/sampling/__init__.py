"""Sampling in the collector: tail sampling between the WAL and the store, and retention.

- :mod:`spanscope.sampling.config` reads the ``[tail_sampling]`` and ``[retention]`` tables
  of ``spanscope serve --config file.toml`` and names the bad key when one is wrong;
- :mod:`spanscope.sampling.policies` turns policies into span predicates (evaluated on
  Arrow columns) and per-trace checks;
- :mod:`spanscope.sampling.tail` buffers traces until they are complete and decides them;
- :mod:`spanscope.sampling.retention` deletes traces past their class's retention;
- :mod:`spanscope.sampling.rules` keeps the head-sampling rules served to SDKs.

Head sampling lives in the SDK (:mod:`spanscope.sdk.sampling`); docs/sampling.md covers all.
"""

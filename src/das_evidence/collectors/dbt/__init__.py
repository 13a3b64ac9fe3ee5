"""dbt collector: one archive entry per dbt invocation, from a target directory.

``artifacts`` reads and validates the JSON artifacts (local or ``s3://``),
``tables`` normalizes them into pinned Parquet tables, ``collector`` is the
:class:`~das_evidence.collectors.interface.Collector` and its factory.
"""

from __future__ import annotations

from das_evidence.collectors.dbt.artifacts import DEFAULT_MAX_BYTES, SUPPORTED_VERSIONS
from das_evidence.collectors.dbt.collector import DbtCollector, dbt_collectors

__all__ = [
    "DEFAULT_MAX_BYTES",
    "SUPPORTED_VERSIONS",
    "DbtCollector",
    "dbt_collectors",
]

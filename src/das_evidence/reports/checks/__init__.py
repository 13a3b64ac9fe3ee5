"""Control checks: small, named checks over the evidence of a period.

Each check maps to SOC 2 criteria and HIPAA Security Rule sections and answers
pass, fail or not_evidenced, with the rows behind a fail and references to the
log entries and files it read. :data:`ALL_CHECKS` lists them; :func:`run_checks`
runs them with a :class:`CheckContext` (``now`` and the ``[checks]`` settings,
:class:`ChecksConfig`). The contract is in :mod:`.interface`; one module per family;
:mod:`.phi` is the one definition of a PHI read, shared with the report's chart.
"""

from das_evidence.config import ChecksConfig
from das_evidence.reports.checks.interface import Check, CheckContext
from das_evidence.reports.checks.registry import ALL_CHECKS, check_ids, run_checks

__all__ = ["ALL_CHECKS", "Check", "CheckContext", "ChecksConfig", "check_ids", "run_checks"]

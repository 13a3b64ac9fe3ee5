"""The architecture as a test: the import-linter contracts in pyproject.toml, and no cycles.

Layers (top to bottom): cli, demo/doctor, schedules, services/starter, reports, collectors,
verify, manifests, evidence_store, config, the leaf modules (aws, streams, timefmt,
validators) and errors. Each vendor SDK is imported by its one module.
"""

from __future__ import annotations

import grimp
import pytest
from importlinter import cli

from tests.conftest import ROOT


def test_the_import_contracts_hold(capsys: pytest.CaptureFixture[str]) -> None:
    code = cli.lint_imports(config_filename=str(ROOT / "pyproject.toml"), no_cache=True)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "0 broken" in out


def test_no_import_cycle_between_subpackages_or_leaf_modules() -> None:
    graph = grimp.build_graph("das_evidence", cache_dir=None)
    units = sorted(graph.find_children("das_evidence"))
    cycles = [
        (a, b)
        for i, a in enumerate(units)
        for b in units[i + 1 :]
        if graph.chain_exists(a, b, as_packages=True) and graph.chain_exists(b, a, as_packages=True)
    ]
    assert cycles == []

"""`evidence collect` imports only what it uses: no AWS SDK for a directory store, no
sqlglot unless query text is redacted in this run (the CLI's own ``-X importtime``)."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.integration.conftest import T0, Env

AWS_SDK = {"boto3", "botocore"}


def _collect_imports(env: Env) -> set[str]:
    """Top-level packages the `evidence collect` process imported; asserts it succeeded."""
    run = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "das_evidence.cli.main", "collect"],
        cwd=env.dir,
        env=dict(os.environ, EVIDENCE_NOW=T0.strftime("%Y-%m-%dT%H:%M:%SZ")),
        capture_output=True,
        text=True,
        timeout=300,
    )
    lines = run.stderr.splitlines()
    assert run.returncode == 0, "\n".join(x for x in lines if not x.startswith("import time:"))
    return {
        line.rsplit("|", 1)[-1].strip().split(".")[0]
        for line in lines
        if line.startswith("import time:")
    }


def test_collect_imports_neither_the_aws_sdk_nor_sqlglot_it_does_not_use(env: Env) -> None:
    text = env.config.read_text()
    env.config.write_text(
        text.replace(
            "[streams.query_history]\n", "[streams.query_history]\nkeep_query_text = true\n"
        )
    )
    kept = _collect_imports(env)
    assert "snowflake" in kept  # the run did read Snowflake
    assert not kept & AWS_SDK, "a directory store imported the AWS SDK"
    assert "sqlglot" not in kept, "query text kept as is, yet sqlglot was imported"

    # Redaction configured again, but every window is archived: no query text this run.
    env.config.write_text(text)
    nothing_due = _collect_imports(env)
    assert not nothing_due & AWS_SDK
    assert "sqlglot" not in nothing_due, "no query text collected, yet sqlglot was imported"

"""das-evidence: audit evidence from Snowflake and dbt, kept in a signed, append-only archive."""

__version__ = "0.1.0"

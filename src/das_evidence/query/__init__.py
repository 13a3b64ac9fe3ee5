"""``evidence sql``: the archive queryable in place, one SQL view per stream.

:mod:`~das_evidence.query.views` decides which signed files make each view;
:mod:`~das_evidence.query.engine` runs polars SQL over them, directly or
verified; :mod:`~das_evidence.query.output` turns a result into JSON or CSV.
"""

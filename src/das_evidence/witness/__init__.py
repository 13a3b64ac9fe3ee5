"""Witnesses: copies of every checkpoint kept, and cosigned, outside the archive's trust domain.

- :mod:`.cosignature`: C2SP ``tlog-cosignature`` (``cosignature/v1``) lines and witness keys.
- :mod:`.protocol`: the C2SP ``tlog-witness`` add-checkpoint request and answers.
- :mod:`.publish`: publish a checkpoint to the configured ``[[witnesses]]``.
- :mod:`.fetch`: read the newest witnessed checkpoint back from a witness URI.
- :mod:`.server`: ``evidence witness serve``, a witness that cosigns consistent growth.
"""

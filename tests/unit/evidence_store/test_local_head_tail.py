"""``LocalStore.head_tail``: the digest, the size and the last bytes of a file from one
read, the same as ``head`` and ``get_tail`` asked apart, at every size around the
hashing chunk and the tail asked for."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from das_evidence.errors import NotRegularFileError, StoreError
from das_evidence.evidence_store.interface import EvidenceStore
from das_evidence.evidence_store.local import HASH_CHUNK, LocalStore

SIZES = [0, 1, 100, HASH_CHUNK - 1, HASH_CHUNK, HASH_CHUNK + 1, 2 * HASH_CHUNK + 77]
TAILS = [0, 1, 64, 65_536, HASH_CHUNK + 10, 3 * HASH_CHUNK]


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    s = LocalStore(tmp_path_factory.mktemp("ht") / "a", create=True)
    for size in SIZES:
        s.put_once(f"evidence/s/{size}.bin", os.urandom(size))
    return s


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("tail", TAILS)
def test_head_tail_is_head_and_get_tail(store: LocalStore, size: int, tail: int) -> None:
    key = f"evidence/s/{size}.bin"
    body = store.get(key)
    found = store.head_tail(key, tail)
    assert found is not None
    info, last = found
    assert (info.key, info.size, info.sha256) == (key, size, hashlib.sha256(body).hexdigest())
    assert info == store.head(key)
    assert last == (body[-tail:] if tail else b"")
    assert last == store.get_tail(key, tail)[0]
    assert store.get_tail(key, tail) == (body[max(0, size - tail) :], size)
    assert EvidenceStore.head_tail(store, key, tail) == found  # the interface's default


def test_the_same_from_several_threads(store: LocalStore) -> None:
    """Each thread reads into its own buffer."""
    from concurrent.futures import ThreadPoolExecutor

    keys = [f"evidence/s/{size}.bin" for size in SIZES] * 8
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda k: store.head_tail(k, 70_000), keys))
    assert got == [store.head_tail(k, 70_000) for k in keys]


def test_missing_is_none_and_a_symlink_is_refused(tmp_path: Path) -> None:
    s = LocalStore(tmp_path / "a", create=True)
    assert s.head_tail("evidence/s/gone.bin", 10) is None
    assert s.head("evidence/s/gone.bin") is None
    s.put_once("evidence/s/real.bin", b"x")
    (s.root / "evidence/s/link.bin").symlink_to(s.root / "evidence/s/real.bin")
    with pytest.raises(NotRegularFileError):
        s.head_tail("evidence/s/link.bin", 10)
    with pytest.raises(NotRegularFileError):
        s.get_tail("evidence/s/link.bin", 10)
    with pytest.raises(StoreError, match="missing"):
        s.get_tail("evidence/s/gone.bin", 10)

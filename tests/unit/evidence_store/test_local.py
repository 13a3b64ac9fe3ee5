"""The local store's put-once contract."""

from __future__ import annotations

import fcntl
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from das_evidence.errors import ConfigError, PutOnceError, StoreError
from das_evidence.evidence_store import open_store
from das_evidence.evidence_store.local import LocalStore


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "archive", create=True)


def test_put_once_then_identical_put_is_a_no_op(store: LocalStore) -> None:
    first = store.put_once("evidence/a/b.parquet", b"hello")
    again = store.put_once("evidence/a/b.parquet", b"hello")
    assert first.created and not again.created
    assert again.info.sha256 == first.info.sha256
    assert store.get("evidence/a/b.parquet") == b"hello"


def test_put_once_refuses_different_bytes(store: LocalStore) -> None:
    store.put_once("log/entries/000000000000.dsse.json", b"one")
    with pytest.raises(PutOnceError, match="already exists"):
        store.put_once("log/entries/000000000000.dsse.json", b"two")
    assert store.get("log/entries/000000000000.dsse.json") == b"one"


def test_files_are_left_read_only(store: LocalStore) -> None:
    store.put_once("evidence/x.json", b"{}")
    mode = (store.root / "evidence" / "x.json").stat().st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_put_from_a_file(store: LocalStore, tmp_path: Path) -> None:
    src = tmp_path / "spool.bin"
    src.write_bytes(b"x" * 3_000_000)
    result = store.put_once("evidence/big.bin", src)
    assert result.info.size == 3_000_000
    assert store.head("evidence/big.bin") == result.info


def test_checkpoint_is_the_only_replaceable_key(store: LocalStore) -> None:
    store.replace_checkpoint(b"a")
    store.replace_checkpoint(b"b")
    assert store.get("log/checkpoint") == b"b"


def test_list_is_sorted_and_skips_staging(store: LocalStore) -> None:
    for key in ("log/entries/000000000001.dsse.json", "evidence/z", "evidence/a"):
        store.put_once(key, key.encode())
    (store.root / ".staging").mkdir(exist_ok=True)
    (store.root / ".staging" / "left.tmp").write_bytes(b"crash leftover")
    assert list(store.list()) == [
        "evidence/a",
        "evidence/z",
        "log/entries/000000000001.dsse.json",
    ]
    assert list(store.list("evidence/")) == ["evidence/a", "evidence/z"]


@pytest.mark.parametrize(
    "key", ["../escape", "evidence/../x", "evidence//x", "evidence/a b", "evidence/a:b", "/abs"]
)
def test_invalid_keys_are_refused(store: LocalStore, key: str) -> None:
    with pytest.raises(ConfigError):
        store.put_once(key, b"x")
    assert not any(store.list())


def test_missing_key_is_a_store_error(store: LocalStore) -> None:
    with pytest.raises(StoreError, match="missing"):
        store.get("evidence/nope")
    assert store.head("evidence/nope") is None


def test_a_crash_before_link_leaves_no_key(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*_: object, **__: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "link", boom)
    with pytest.raises(StoreError, match="disk full"):
        store.put_once("evidence/half", b"data")
    monkeypatch.undo()
    assert not store.exists("evidence/half")
    assert list(store.list()) == []


def test_open_store_uris(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path / "a"), create=True), LocalStore)
    assert isinstance(open_store((tmp_path / "b").as_uri(), create=True), LocalStore)
    with pytest.raises(ConfigError, match="unknown scheme"):
        open_store("ftp://x/y")
    with pytest.raises(StoreError, match="does not exist"):
        open_store(str(tmp_path / "missing"))


# -- OSErrors become StoreErrors that name the path ----------------------------------


def test_a_file_where_the_archive_should_be_is_a_store_error(tmp_path: Path) -> None:
    a_file = tmp_path / "archive"
    a_file.write_text("notes")
    with pytest.raises(StoreError, match="is not a directory") as e:
        LocalStore(a_file, create=True)
    assert str(a_file) in e.value.message and e.value.fix
    assert a_file.read_text() == "notes"


def test_a_missing_parent_is_not_created(tmp_path: Path) -> None:
    """A missing parent is more often an unmounted volume than a directory to make."""
    target = tmp_path / "mnt" / "evidence" / "archive"
    with pytest.raises(StoreError, match=r"its parent .* does not exist") as e:
        LocalStore(target, create=True)
    assert e.value.exit_code == 3 and e.value.fix and "mount" in e.value.fix
    assert not (tmp_path / "mnt").exists()


def test_a_parent_that_is_a_file_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "mnt").write_text("")
    with pytest.raises(StoreError, match="is not a directory"):
        LocalStore(tmp_path / "mnt" / "archive", create=True)


def test_a_directory_the_listing_cannot_read_fails_it(
    store: LocalStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """os.walk skips what it cannot read; a listing of evidence must not."""
    store.put_once("evidence/a/x.json", b"{}")
    store.put_once("log/entries/000000000000.dsse.json", b"{}")
    real_scandir = os.scandir
    hidden = store.root / "evidence" / "a"

    def scandir(path: Any) -> Any:
        if Path(path) == hidden:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(StoreError, match=r"cannot list .*evidence/a: Permission denied"):
        list(store.list())


def test_a_checkpoint_that_cannot_be_read_is_a_store_error(store: LocalStore) -> None:
    (store.root / "log" / "checkpoint").mkdir(parents=True)  # a directory, not a file
    with pytest.raises(StoreError, match=r"checkpoint is a directory, not a file"):
        store.get_checkpoint()


# -- the collect lock --------------------------------------------------------------


def test_the_lock_file_is_gone_once_released(store: LocalStore) -> None:
    with store.lock():
        assert (store.root / ".lock").is_file()
        assert list(store.list()) == []  # never an archive key
    assert not (store.root / ".lock").exists()


def test_a_waiter_on_a_removed_lock_file_locks_the_new_one(store: LocalStore) -> None:
    """The holder removes .lock as it lets go; a run that opened the old file meanwhile
    must not go on holding a lock no one else can see."""
    holding = threading.Event()
    release = threading.Event()
    seen: dict[str, bool] = {}

    def waiter() -> None:
        with store.lock(timeout=10):
            # A third run opening .lock now must find it taken, not missing or free.
            try:
                fd = os.open(store.root / ".lock", os.O_RDWR)
            except FileNotFoundError:
                seen["third_run_got_in"] = True
            else:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    seen["third_run_got_in"] = True
                except BlockingIOError:
                    seen["third_run_got_in"] = False
                finally:
                    os.close(fd)
            holding.set()
            release.wait(10)

    with store.lock():
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.5)  # the waiter has opened .lock and waits for the flock
    assert holding.wait(10)
    release.set()
    thread.join(10)
    assert seen == {"third_run_got_in": False}
    assert not (store.root / ".lock").exists()


def test_a_checkpoint_that_is_a_device_or_huge_is_refused_without_reading_it(
    store: LocalStore,
) -> None:
    (store.root / "log").mkdir(parents=True, exist_ok=True)
    (store.root / "log" / "checkpoint").symlink_to("/dev/zero")
    with pytest.raises(StoreError, match="symbolic link"):
        store.get_checkpoint()
    (store.root / "log" / "checkpoint").unlink()
    (store.root / "log" / "checkpoint").write_bytes(b"x" * ((1 << 20) + 1))
    with pytest.raises(StoreError, match="not a checkpoint"):
        store.get_checkpoint()


def test_get_tail_gives_the_last_bytes_and_the_size(store: LocalStore) -> None:
    store.put_once("evidence/t", b"0123456789")
    assert store.get_tail("evidence/t", 4) == (b"6789", 10)
    assert store.get_tail("evidence/t", 64 << 20) == (b"0123456789", 10)
    assert store.get_tail("evidence/t", 0) == (b"", 10)


def test_list_skips_the_lock_at_the_root_only(store: LocalStore) -> None:
    store.put_once("evidence/a/.lock", b"x")
    with store.lock():
        assert list(store.list()) == ["evidence/a/.lock"]


@pytest.mark.parametrize(
    ("prefix", "start_after"),
    [
        ("", ""),
        ("log/", ""),
        ("log/entries/", "log/entries/000000000001.dsse.json"),
        ("evidence/snowflake/A/login_history/", ""),
        ("evidence/snowflake/A/login_history/date=2026-11-0", ""),
        ("evidence/snowflake/A/no_such_stream/", ""),
        ("evidence/../log/", ""),
    ],
)
def test_a_prefix_listing_is_the_whole_listing_filtered(
    store: LocalStore, prefix: str, start_after: str
) -> None:
    """Only the prefix's directory is walked; what it lists is what filtering the whole
    archive's listing gives."""
    for i in range(3):
        store.put_once(f"log/entries/{i:012d}.dsse.json", b"e")
        store.put_once(f"evidence/snowflake/A/login_history/date=2026-11-0{i}/x.parquet", b"f")
        store.put_once(f"evidence/snowflake/A/sessions/date=2026-11-0{i}/x.parquet", b"g")
    (store.root / "evidence" / "elsewhere").mkdir()
    (store.root / "evidence" / "elsewhere" / "y").write_bytes(b"h")
    (store.root / "log" / "linked").symlink_to(store.root / "evidence" / "elsewhere")
    everything = list(store.list())
    expected = [k for k in everything if k.startswith(prefix) and k > start_after]
    assert list(store.list(prefix, start_after=start_after)) == expected
    assert list(store.list("log/linked/")) == []  # not followed, as from the root


_TRICKY = [
    "a-b/x",
    "a.b",
    "a/b",
    "a/b-c",
    "a/b0",
    "a/c/d",
    "a0",
    "ab/z",
    "b",
    "log/entries/000000000000.dsse.json",
    "log/entries/000000000001.dsse.json",
    "log/entries/000000000010.dsse.json",
]


@pytest.fixture(scope="module")
def tricky(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    store = LocalStore(tmp_path_factory.mktemp("tricky") / "archive", create=True)
    for key in _TRICKY:
        store.put_once(key, b"x")
    return store


@settings(max_examples=300, deadline=None)
@given(
    prefix=st.sampled_from(["", "a", "a/", "a/b", "a/c/", "log/", "log/entries/", "b"]),
    start_after=st.one_of(st.sampled_from(_TRICKY), st.text("ab/-.cgl0", max_size=6)),
)
def test_a_listing_after_a_key_skips_exactly_the_keys_at_or_before_it(
    tricky: LocalStore, prefix: str, start_after: str
) -> None:
    """The directories a listing after a key does not walk (the orphan sweep lists after
    its cursor) hold exactly the keys at or before it, with ``-`` and ``.`` sorting before
    ``/`` and ``0`` after it."""
    expected = sorted(k for k in _TRICKY if k.startswith(prefix) and k > start_after)
    assert list(tricky.list(prefix, start_after=start_after)) == expected

"""The error contract: one module of errors, each with a subsystem base and an exit code."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import das_evidence
from das_evidence import errors
from das_evidence.errors import (
    EXIT_CODES,
    SUBSYSTEMS,
    CollectorError,
    ConfigError,
    EvidenceError,
    FormatError,
    GapError,
    InternalError,
    KeyFileError,
    KmsError,
    KmsKeyError,
    PutOnceError,
    ReportError,
    SignerError,
    StoreError,
    VerificationError,
    WebhookError,
)

SRC = Path(das_evidence.__file__).parent
# Packages only the demo extra installs; a module that needs them is skipped without it.
DEMO_PACKAGES = {"fakesnow", "moto", "uvicorn"}


def product_errors() -> list[type[EvidenceError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, EvidenceError) and cls is not EvidenceError
    ]


def package_modules() -> list[ModuleType]:
    modules = []
    for info in pkgutil.walk_packages(das_evidence.__path__, "das_evidence."):
        try:
            modules.append(importlib.import_module(info.name))
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] not in DEMO_PACKAGES:
                raise
    return modules


def source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_error_has_a_subsystem_base_and_a_documented_exit_code() -> None:
    found = product_errors()
    assert len(found) >= 20
    for cls in found:
        assert issubclass(cls, SUBSYSTEMS), f"{cls.__name__} has no subsystem base"
        assert cls.exit_code in EXIT_CODES and cls.exit_code != 0, cls.__name__
        assert cls.__doc__, f"{cls.__name__} says nothing about when it is raised"


def test_subsystem_exit_codes() -> None:
    assert {cls: cls.exit_code for cls in SUBSYSTEMS} == {
        ConfigError: 2,
        CollectorError: 3,
        StoreError: 3,
        SignerError: 3,
        VerificationError: 1,
        ReportError: 3,
        InternalError: 4,
    }
    # Subclasses whose meaning is another exit code's.
    assert PutOnceError.exit_code == 1 and GapError.exit_code == 1
    assert FormatError.exit_code == 1 and issubclass(FormatError, VerificationError)
    assert KeyFileError.exit_code == 2 and issubclass(KeyFileError, ConfigError)
    assert KmsKeyError.exit_code == 2 and issubclass(KmsKeyError, SignerError)
    assert KmsError.exit_code == 3 and not issubclass(KmsError, ConfigError)
    # A pydantic validator can raise it: pydantic turns ValueErrors into messages.
    assert issubclass(WebhookError, ValueError) and WebhookError.exit_code == 2


@pytest.mark.parametrize("cls", product_errors(), ids=lambda c: c.__name__)
def test_every_error_carries_its_message_and_fix(cls: type[EvidenceError]) -> None:
    e = cls("the archive at /x is not a directory", fix="point store.uri at one")
    assert e.message == "the archive at /x is not a directory"
    assert e.fix == "point store.uri at one"
    assert str(e) == "the archive at /x is not a directory\n  fix: point store.uri at one"


def test_no_exception_class_is_defined_outside_errors_py() -> None:
    outside = [
        f"{module.__name__}.{name}"
        for module in package_modules()
        if module is not errors
        for name, obj in vars(module).items()
        if inspect.isclass(obj)
        and issubclass(obj, BaseException)
        and obj.__module__ == module.__name__
    ]
    assert outside == []


def test_no_exception_class_is_defined_inside_a_function_either() -> None:
    """What the import check cannot see: classes in function bodies."""
    suspicious = []
    for path in source_files():
        if path.name == "errors.py" and path.parent == SRC:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                bases = [ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases]
                if any(b.endswith(("Error", "Exception", "Conflict")) for b in bases):
                    suspicious.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert suspicious == []


def test_the_bare_root_is_never_raised() -> None:
    raised = []
    for path in source_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                if ast.unparse(exc).rsplit(".", 1)[-1] == "EvidenceError":
                    raised.append(f"{path.relative_to(SRC)}:{node.lineno}")
    assert raised == []


@pytest.mark.parametrize(
    ("vendor", "home"),
    [
        ("boto3", "aws.py"),
        ("botocore", "aws.py"),
        ("snowflake", "collectors/snowflake/connection.py"),
    ],
)
def test_a_vendor_sdk_is_imported_in_one_module(vendor: str, home: str) -> None:
    """Its errors are wrapped there, so no other module needs its types (demo/ aside)."""
    importers = set()
    for path in source_files():
        rel = path.relative_to(SRC).as_posix()
        if rel.startswith("demo/"):
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names = [node.module]
            if any(n == vendor or n.startswith(vendor + ".") for n in names):
                importers.add(rel)
    assert importers == {home}


def test_vendor_errors_are_not_recognised_by_module_name() -> None:
    """Catch their types where they enter, not anything whose __module__ looks right."""
    users = [
        str(path.relative_to(SRC)) for path in source_files() if "__module__" in path.read_text()
    ]
    assert users == []


def test_internal_error_is_one_line_that_calls_itself_a_bug() -> None:
    bug = InternalError.from_exception(ValueError("no\nsuch   key"))
    assert bug.exit_code == 4
    assert str(bug) == (
        "internal error: ValueError: no such key — this is a bug; "
        "rerun with --verbose for the traceback and report it"
    )
    shown = InternalError.from_exception(RuntimeError(), traceback_shown=True)
    assert shown.message.startswith("internal error: RuntimeError — this is a bug")
    assert "--verbose" not in shown.message
    long = InternalError.from_exception(ValueError("x" * 5000))
    assert len(long.message) < 500


def test_exit_codes_are_documented_where_operators_look() -> None:
    root = SRC.parents[1]
    operations = (root / "docs" / "OPERATIONS.md").read_text()
    readme = (root / "README.md").read_text()
    assert set(EXIT_CODES) == {0, 1, 2, 3, 4, 130}
    for code in EXIT_CODES:
        assert f"| `{code}` |" in operations, code
    assert "4 internal error" in readme

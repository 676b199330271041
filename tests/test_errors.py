"""The error tree: one kind per class, one problem type and status per kind, docs that list
them all, and the drawn tree in ``_errors.py`` true to the code."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import corral
import corral._errors as errors_module
from corral import (CorralError, FetchDenied, FetchError, FetchLimitExceeded,
                    FetchNetworkError, FetchTimeout, FetchTooLarge, FormulaSyntaxError,
                    LimitExceeded, StoreUnavailable)
from corral._server import app as _app  # noqa: F401  (loads every module that may define errors)
from corral._server.problems import (STATUS_BY_CLASS, TYPE_PREFIX, problem_for, problem_type,
                                     status_of)

ROOT = Path(__file__).resolve().parent.parent
# Kinds the service answers with that no error class stands behind (_server/app.py).
SERVICE_KINDS = {"internal", "bad_request", "method_not_allowed", "unavailable", "http"}
ABI_FETCH_KINDS = {"denied", "timeout", "too_large", "network", "limit"}


def error_classes() -> list[type[CorralError]]:
    found: list[type[CorralError]] = []
    todo: list[type[CorralError]] = [CorralError]
    while todo:
        cls = todo.pop()
        if cls.__module__.startswith("corral"):
            found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


def sample(cls: type[CorralError]) -> CorralError:
    if issubclass(cls, LimitExceeded):
        return cls("boom", limit="some_limit")
    if issubclass(cls, FormulaSyntaxError):
        return cls("boom", line=1, column=1, source="=1")
    if issubclass(cls, StoreUnavailable):
        return cls("boom", store="postgresql", retry_after_s=2)
    return cls("boom")


def test_every_error_class_has_its_own_kind() -> None:
    classes = error_classes()
    assert len(classes) >= 40  # the whole tree was found, not just a corner of it
    by_kind: dict[str, list[str]] = {}
    for cls in classes:
        assert "kind" in vars(cls), f"{cls.__name__} inherits its kind"
        by_kind.setdefault(cls.kind, []).append(cls.__name__)
    shared = {kind: names for kind, names in by_kind.items() if len(names) > 1}
    assert shared == {}
    assert not set(by_kind) & SERVICE_KINDS


@pytest.mark.parametrize("cls", error_classes(), ids=lambda cls: cls.__name__)
def test_each_kind_has_its_problem_type_and_status(cls: type[CorralError]) -> None:
    assert cls in STATUS_BY_CLASS, f"{cls.__name__} has no status of its own"
    status = status_of(cls)
    assert status in (400, 401, 403, 404, 409, 410, 413, 422, 429, 500, 502, 503, 504, 507)
    found = problem_for(sample(cls), instance="/v1/x")
    assert found.status == status
    if status == 500:  # the host's own fault: never described
        assert found.body["kind"] == "internal" and found.body["detail"] != "boom"
    else:
        assert found.body["type"] == problem_type(cls.kind) == TYPE_PREFIX + cls.kind
        assert found.body["kind"] == cls.kind and "boom" in found.body["detail"]


def test_an_unlisted_subclass_answers_with_its_parents_status() -> None:
    class Later(FetchTimeout):
        kind = "later"

    assert status_of(Later) == 504


def test_the_http_api_docs_list_every_kind() -> None:
    text = (ROOT / "docs" / "http-api.md").read_text(encoding="utf-8")
    section = text.split("### Problem types", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `(\w+)` \| (\d+|any) \| `?(\w+|—)`? \|", section, re.MULTILINE)
    documented = {kind: (status, name) for kind, status, name in rows}
    expected = {cls.kind: (str(STATUS_BY_CLASS[cls]), cls.__name__) for cls in error_classes()}
    assert {k: v for k, v in documented.items() if k not in SERVICE_KINDS} == expected
    assert SERVICE_KINDS <= set(documented)


def test_the_drawn_tree_is_the_class_tree() -> None:
    doc = errors_module.__doc__ or ""
    lines = [line for line in doc.splitlines() if re.search(r"(├──|└──|^    CorralError)", line)]
    parents: list[str] = []
    drawn: dict[str, tuple[str | None, str]] = {}
    for line in lines:
        marker = re.search(r"[├└]── ", line)
        depth = 0 if marker is None else (marker.start() - 4) // 4 + 1
        name, kind = line[marker.end() if marker else 4:].split()[:2]
        del parents[depth:]
        drawn[name] = (parents[-1] if parents else None, kind)
        parents.append(name)
    drawn["CorralError"] = (None, CorralError.kind)  # its line heads the kind column
    code = {cls.__name__: (None if cls is CorralError else cls.__bases__[0].__name__, cls.kind)
            for cls in error_classes()}
    assert drawn == code


def test_every_error_class_is_public() -> None:
    public = {name for name in corral.__all__ if isinstance(getattr(corral, name), type)}
    assert {cls.__name__ for cls in error_classes()} - public == {"InlineAbandoned"}


def test_fetch_errors_keep_the_abi_kinds_a_guest_reads() -> None:
    assert {cls: cls.abi_kind for cls in (FetchDenied, FetchTimeout, FetchTooLarge,
                                          FetchNetworkError, FetchLimitExceeded)} == {
        FetchDenied: "denied", FetchTimeout: "timeout", FetchTooLarge: "too_large",
        FetchNetworkError: "network", FetchLimitExceeded: "limit"}
    assert FetchError.abi_kind == "network"
    abi = (ROOT / "guest-sdk" / "ABI.md").read_text(encoding="utf-8")
    section = abi.split("### 5.2", 1)[1].split("### 5.3", 1)[0]
    for cls in (FetchDenied, FetchTimeout, FetchTooLarge, FetchNetworkError, FetchLimitExceeded):
        assert f"| `{cls.abi_kind}` |" in section and f"| `{cls.kind}` |" in section, cls
    assert {cls.abi_kind for cls in error_classes() if issubclass(cls, FetchError)} \
        == ABI_FETCH_KINDS


def test_a_store_outage_is_a_503_with_retry_after() -> None:
    found = problem_for(StoreUnavailable("the durable store cannot be reached now",
                                         store="postgresql", retry_after_s=2.5),
                        instance="/v1/x")
    assert found.status == 503
    assert found.headers["Retry-After"] == "3"
    assert found.body["kind"] == "store_unavailable" and found.body["store"] == "postgresql"

"""The github example pack reports the API's errors to the host: the status and
Retry-After (so the host retries what is worth retrying) and the scopes a token lacks."""

from __future__ import annotations

from typing import Iterator

import pytest

from corral import GuestError, MissingScopes
from corral.testing import FixtureServer, PackHarness, Reply

from ..conftest import PACKS, built
from ..fake_github import TOKEN

ISSUE = {"number": 1, "title": "One", "state": "open", "body": None,
         "html_url": "https://github.test/octo/hello/issues/1",
         "url": "https://api.github.test/repos/octo/hello/issues/1",
         "user": {"login": "octocat", "html_url": "https://github.test/octocat"},
         "labels": [], "comments": 0, "created_at": "2024-01-01T00:00:00Z",
         "updated_at": "2024-01-01T00:00:00Z", "closed_at": None}


@pytest.fixture
def api() -> Iterator[FixtureServer]:
    with FixtureServer() as server:
        yield server


@pytest.fixture
def gh(api: FixtureServer) -> Iterator[PackHarness]:
    with PackHarness(built(PACKS / "github"), domains_map={"api.github.test": api},
                     secret={"token": TOKEN}) as harness:
        yield harness


def test_a_503_with_retry_after_is_retried_then_answers(gh: PackHarness,
                                                        api: FixtureServer) -> None:
    replies = iter([Reply(status=503, json={"message": "try later"}, headers={"Retry-After": "0"}),
                    Reply(json=ISSUE)])
    api.route("GET", "/repos/octo/hello/issues/1", lambda request: next(replies))
    assert gh.call("GetIssue", "octo/hello", 1)["title"] == "One"
    assert api.hits("GET", "/repos/octo/hello/issues/1") == 2


def test_a_rate_limit_past_the_deadline_reaches_the_caller_with_its_retry_after(
        gh: PackHarness, api: FixtureServer) -> None:
    api.route("GET", "/repos/octo/hello/issues/1", status=429,
              json={"message": "API rate limit exceeded"}, headers={"Retry-After": "600"})
    with pytest.raises(GuestError, match="the API answered 429: API rate limit exceeded") as info:
        gh.call("GetIssue", "octo/hello", 1)
    assert (info.value.status, info.value.retry_after_s) == (429, 600.0)
    assert api.hits("GET", "/repos/octo/hello/issues/1") == 1


def test_a_404_keeps_its_message_and_carries_its_status(gh: PackHarness,
                                                        api: FixtureServer) -> None:
    api.route("GET", "/repos/octo/hello/issues/9", status=404, json={"message": "Not Found"})
    with pytest.raises(GuestError, match="not found: /repos/octo/hello/issues/9") as info:
        gh.call("GetIssue", "octo/hello", 9)
    assert info.value.status == 404
    assert api.hits("GET", "/repos/octo/hello/issues/9") == 1


def test_a_token_without_the_accepted_scopes_is_told_to_reconnect(gh: PackHarness,
                                                                  api: FixtureServer) -> None:
    api.route("GET", "/repos/octo/private/issues/1", status=403,
              json={"message": "Resource not accessible by integration"},
              headers={"X-Accepted-OAuth-Scopes": "repo, public_repo",
                       "X-OAuth-Scopes": "read:user, gist"})
    with pytest.raises(MissingScopes) as info:
        gh.call("GetIssue", "octo/private", 1)
    assert info.value.scopes == ("repo", "public_repo")
    assert "reconnect granting the scopes: repo public_repo" in str(info.value)


def test_a_403_the_token_has_the_scopes_for_is_a_plain_upstream_error(
        gh: PackHarness, api: FixtureServer) -> None:
    api.route("GET", "/repos/octo/private/issues/1", status=403,
              json={"message": "Repository access blocked"},
              headers={"X-Accepted-OAuth-Scopes": "repo", "X-OAuth-Scopes": "repo, gist"})
    with pytest.raises(GuestError, match="the API answered 403") as info:
        gh.call("GetIssue", "octo/private", 1)
    assert info.value.status == 403 and not isinstance(info.value, MissingScopes)

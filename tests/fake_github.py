"""A local fake of a GitHub-style REST API, served on 127.0.0.1 for the github pack's tests.

It behaves like the real API where the pack depends on it:

    GET   /user                              the token's user
    GET   /user/repos?per_page&page          repositories the token can see
    GET   /repos/{owner}/{repo}/issues?state&per_page&page
                                             issues, newest number last, paginated with a
                                             ``Link: <...>; rel="next", <...>; rel="last"`` header
    GET   /repos/{owner}/{repo}/issues/{n}   one issue, or 404 {"message": "Not Found"}
    POST  /repos/{owner}/{repo}/issues       create: {"title", "body"} -> 201 and the issue
    PATCH /repos/{owner}/{repo}/issues/{n}   edit title/state; a bad state is 422
    GET   /projects                          projects (each with its own fields)
    GET   /projects/{id}/fields              [{"name", "type"}]
    GET   /projects/{id}/items?per_page&page items, paginated like issues

Every request needs ``Authorization: Bearer <token>`` (else 401 {"message": "Bad
credentials"}). Links point at ``public_base`` (``https://api.github.test``), as the real
API's point at https://api.github.com, not at the loopback port the server listens on.
It is a ``corral.testing.LocalServer``: ``requests`` lists every request received,
``count`` counts them by method and path prefix, ``seen_auth`` keeps the Authorization
headers received.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlencode

from corral.testing import Exchange, LocalServer, Reply

PUBLIC_BASE = "https://api.github.test"
TOKEN = "ghp_fake_token_0123456789"


@dataclass
class Project:
    id: int
    title: str
    fields: list[dict[str, str]]
    items: list[dict[str, Any]]


@dataclass
class _Data:
    repos: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    projects: list[Project] = field(default_factory=list)


def make_issue(repo: str, number: int, *, title: str | None = None, body: str | None = None,
               login: str | None = "octocat", state: str = "open") -> dict[str, Any]:
    """An issue as the API returns it (the fields the pack reads, and a few it ignores)."""
    day = 1 + number % 28
    return {
        "id": 1000 + number, "node_id": f"I_{number}", "number": number,
        "title": title if title is not None else f"Issue {number}", "state": state,
        "body": body, "html_url": f"https://github.test/{repo}/issues/{number}",
        "url": f"{PUBLIC_BASE}/repos/{repo}/issues/{number}",
        "user": None if login is None else {"login": login,
                                            "html_url": f"https://github.test/{login}"},
        "labels": [{"name": "bug"}] if number % 3 == 0 else [],
        "comments": number % 5, "created_at": f"2024-01-{day:02d}T10:00:00Z",
        "updated_at": f"2024-02-{day:02d}T10:00:00Z",
        "closed_at": None if state == "open" else f"2024-03-{day:02d}T10:00:00Z",
    }


Answer = tuple[int, Any, dict[str, str]]


class FakeGitHub(LocalServer):
    """The fake API; ``with FakeGitHub() as api:`` serves it until the block ends."""

    def __init__(self, *, token: str = TOKEN) -> None:
        super().__init__(name="fake-github")
        self.token = token
        self.data = _Data()
        self._data_lock = threading.Lock()
        routes: list[tuple[str, str, Callable[..., Answer]]] = [
            ("GET", "/user", self._user),
            ("GET", "/user/repos", self._user_repos),
            ("GET", "/repos/{owner}/{name}/issues", self._list_issues),
            ("POST", "/repos/{owner}/{name}/issues", self._create_issue),
            ("GET", "/repos/{owner}/{name}/issues/{number}", self._get_issue),
            ("PATCH", "/repos/{owner}/{name}/issues/{number}", self._edit_issue),
            ("GET", "/projects", self._projects),
            ("GET", "/projects/{project_id}/fields", self._project_fields),
            ("GET", "/projects/{project_id}/items", self._project_items),
        ]
        for method, path, answer in routes:
            self.handle(method, path, self._api(answer))

    @property
    def seen_auth(self) -> list[str]:
        return [r.headers.get("authorization", "") for r in self.requests]

    def add_repo(self, repo: str, issues: int = 0, **issue_fields: Any) -> None:
        self.data.repos[repo] = [make_issue(repo, n, **issue_fields) for n in range(1, issues + 1)]

    def add_project(self, title: str, fields: list[dict[str, str]],
                    items: list[dict[str, Any]]) -> Project:
        project = Project(id=len(self.data.projects) + 1, title=title, fields=fields,
                          items=items)
        self.data.projects.append(project)
        return project

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for r in self.requests
                   if r.method == method and r.path.startswith(path_prefix))

    # -- routes ---------------------------------------------------------------------------

    def _api(self, answer: Callable[..., Answer]) -> Callable[[Exchange], Reply]:
        """The checks every route makes first (the token, a JSON body), then ``answer``."""
        def handler(exchange: Exchange) -> Reply:
            refused = self._refusal(exchange)
            if refused is not None:
                return refused
            params = dict(exchange.params)
            if "owner" in params:
                params = {"repo": f"{params.pop('owner')}/{params.pop('name')}", **params}
            request = exchange.request
            status, payload, headers = answer(request.query, request.json, **params)
            return _json_reply(status, payload, headers)
        return handler

    def _refusal(self, exchange: Exchange) -> Reply | None:
        if exchange.request.headers.get("authorization") != f"Bearer {self.token}":
            return _json_reply(401, {"message": "Bad credentials"})
        try:
            exchange.request.json
        except ValueError:
            return _json_reply(400, {"message": "Problems parsing JSON"})
        return None

    def unmatched(self, exchange: Exchange) -> Reply:
        return self._refusal(exchange) or _json_reply(404, {"message": "Not Found"})

    def _user(self, query: dict[str, list[str]], body: Any) -> Answer:
        return 200, {"login": "octocat", "id": 1}, {}

    def _user_repos(self, query: dict[str, list[str]],
                    body: Any) -> Answer:
        repos = [{"id": i, "full_name": name, "name": name.split("/")[1]}
                 for i, name in enumerate(sorted(self.data.repos), 1)]
        return self._page("/user/repos", repos, query)

    def _list_issues(self, query: dict[str, list[str]], body: Any,
                     repo: str) -> Answer:
        if repo not in self.data.repos:
            return 404, {"message": "Not Found"}, {}
        state = query.get("state", ["open"])[0]
        issues = [i for i in self.data.repos[repo] if state == "all" or i["state"] == state]
        return self._page(f"/repos/{repo}/issues", issues, query)

    def _get_issue(self, query: dict[str, list[str]], body: Any, repo: str,
                   number: str) -> Answer:
        issue = self._find(repo, int(number))
        return (200, issue, {}) if issue else (404, {"message": "Not Found"}, {})

    def _create_issue(self, query: dict[str, list[str]], body: Any,
                      repo: str) -> Answer:
        if repo not in self.data.repos:
            return 404, {"message": "Not Found"}, {}
        if not isinstance(body, dict) or not body.get("title"):
            return 422, {"message": "Validation Failed: title is missing"}, {}
        with self._data_lock:
            issues = self.data.repos[repo]
            issue = make_issue(repo, len(issues) + 1, title=body["title"], body=body.get("body"))
            issues.append(issue)
        return 201, issue, {}

    def _edit_issue(self, query: dict[str, list[str]], body: Any, repo: str,
                    number: str) -> Answer:
        issue = self._find(repo, int(number))
        if issue is None:
            return 404, {"message": "Not Found"}, {}
        if not isinstance(body, dict):
            return 400, {"message": "Problems parsing JSON"}, {}
        if "state" in body and body["state"] not in ("open", "closed"):
            return 422, {"message": f"Validation Failed: state {body['state']!r} is invalid"}, {}
        with self._data_lock:
            for key in ("title", "state"):
                if key in body:
                    issue[key] = body[key]
            issue["closed_at"] = "2024-04-01T00:00:00Z" if issue["state"] == "closed" else None
        return 200, issue, {}

    def _projects(self, query: dict[str, list[str]],
                  body: Any) -> Answer:
        return 200, [{"id": p.id, "title": p.title} for p in self.data.projects], {}

    def _project(self, project_id: str) -> Project | None:
        return next((p for p in self.data.projects if p.id == int(project_id)), None)

    def _project_fields(self, query: dict[str, list[str]], body: Any,
                        project_id: str) -> Answer:
        project = self._project(project_id)
        return (200, project.fields, {}) if project else (404, {"message": "Not Found"}, {})

    def _project_items(self, query: dict[str, list[str]], body: Any,
                       project_id: str) -> Answer:
        project = self._project(project_id)
        if project is None:
            return 404, {"message": "Not Found"}, {}
        return self._page(f"/projects/{project_id}/items", project.items, query)

    def _find(self, repo: str, number: int) -> dict[str, Any] | None:
        return next((i for i in self.data.repos.get(repo, []) if i["number"] == number), None)

    def _page(self, path: str, items: list[Any],
              query: dict[str, list[str]]) -> Answer:
        """One page of ``items`` with a Link header like the real API's."""
        per_page = max(1, min(100, int(query.get("per_page", ["30"])[0])))
        page = max(1, int(query.get("page", ["1"])[0]))
        last = max(1, -(-len(items) // per_page))
        chunk = items[(page - 1) * per_page:page * per_page]
        links = []
        kept = {k: v[0] for k, v in query.items() if k != "page"}

        def link(number: int, rel: str) -> str:
            return f'<{PUBLIC_BASE}{path}?{urlencode({**kept, "page": number})}>; rel="{rel}"'

        if page > 1:
            links += [link(page - 1, "prev"), link(1, "first")]
        if page < last:
            links += [link(page + 1, "next"), link(last, "last")]
        return 200, chunk, ({"Link": ", ".join(links)} if links else {})


def _json_reply(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status=status, body=json.dumps(payload),
                 headers={"Content-Type": "application/json; charset=utf-8", **(headers or {})})

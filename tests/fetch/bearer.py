"""Test credentials: a bearer token (or a query key) for one test domain, with the secret
it injects, refreshable to ``next_token``."""

from __future__ import annotations

from corral._fetch.policy import host_matches


class Bearer:
    header_names = frozenset({"authorization"})
    param_names: frozenset[str] = frozenset()

    def __init__(self, token: str, identity: str = "conn-1", domain: str = "example.test",
                 next_token: str | None = None) -> None:
        self.token, self.identity, self.domain, self.next_token = (token, identity, domain,
                                                                   next_token)
        self.refreshes = 0

    def applies_to(self, host: str, port: int | None = None, scheme: str = "https") -> bool:
        return host_matches(host, self.domain)

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        headers["Authorization"] = f"Bearer {self.token}"

    def secret_values(self) -> frozenset[str]:
        return frozenset({self.token})

    def refresh(self) -> bool:
        self.refreshes += 1
        if self.next_token is None:
            return False
        self.token = self.next_token
        return True


class QueryKey(Bearer):
    header_names: frozenset[str] = frozenset()
    param_names = frozenset({"api_key"})

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        params.append(("api_key", self.token))

"""Test credentials: a bearer token for the test domain, with the secret it injects."""

from __future__ import annotations

from corral._fetch.policy import host_matches


class Bearer:
    header_names = frozenset({"authorization"})
    param_names: frozenset[str] = frozenset()

    def __init__(self, token: str, identity: str, domain: str = "example.test") -> None:
        self.token, self.identity, self.domain = token, identity, domain

    def applies_to(self, host: str, port: int | None = None) -> bool:
        return host_matches(host, self.domain)

    def apply(self, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
        headers["Authorization"] = f"Bearer {self.token}"

    def refresh(self) -> bool:
        return False

    def secret_values(self) -> frozenset[str]:
        return frozenset({self.token})

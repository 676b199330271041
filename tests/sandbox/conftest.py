"""Every sandbox test that uses ``sandbox`` runs once per call path (``native``, ``public``)."""

from __future__ import annotations

import pytest

from corral import Sandbox


@pytest.fixture(scope="session")
def sandbox(path_sandbox: Sandbox) -> Sandbox:
    return path_sandbox

"""The test and development settings that let a pack's real https:// URLs reach a local TLS
stand-in: ``host_map`` entries with a port, and ``ca_file`` trusting a throwaway CA."""

from __future__ import annotations

from pathlib import Path

import pytest
from corral._errors import ConfigError
from corral._fetch.client import FetchClient, FetchConfig
from corral._settings import load_settings
from corral.testing import LocalServer, make_tls_files


def test_settings_read_a_port_in_host_map_and_a_ca_file(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    settings = load_settings(env={"CORRAL_HOST_MAP": "api.example.com=127.0.0.1:8443",
                                  "CORRAL_CA_FILE": str(ca)})
    assert settings.host_map == {"api.example.com": "127.0.0.1:8443"}
    assert settings.ca_file == ca
    config = FetchConfig(host_map=settings.host_map)
    assert config.host_map == {"api.example.com": "127.0.0.1"}
    assert config.host_ports == {"api.example.com": 8443}


def test_a_bad_port_is_refused_naming_the_setting() -> None:
    with pytest.raises(ConfigError, match="port must be 1-65535") as caught:
        FetchConfig(host_map={"api.example.com": "127.0.0.1:70000"})
    assert caught.value.setting == "host_map"


def test_a_real_https_url_reaches_the_local_tls_stand_in(tmp_path: Path) -> None:
    ca, cert, key = make_tls_files(tmp_path, ["api.example.com"])
    with LocalServer(tls=(cert, key)) as server:
        server.route("GET", "/v1/hello", json={"hi": "there"})
        config = FetchConfig(host_map={"api.example.com": f"127.0.0.1:{server.port}"},
                             ca_file=str(ca))
        with FetchClient(config) as client:
            answer = client.fetch({"url": "https://api.example.com/v1/hello"}, pack="p",
                                  pack_hash="0" * 64, domains=["example.com"])
        assert answer["status"] == 200
        assert server.requests[-1].headers["host"] == "api.example.com"


def test_a_copy_of_the_fetch_config_keeps_the_mapped_ports() -> None:
    # The host's OAuth2 token client is such a copy (dataclasses.replace): without the port,
    # a token request to a stand-in went to port 443 and was refused.
    from dataclasses import replace

    config = FetchConfig(host_map={"api.example.com": "127.0.0.1:8443"})
    copy = replace(config, max_redirects=0)
    assert copy.host_ports == {"api.example.com": 8443}
    assert copy.host_map == config.host_map

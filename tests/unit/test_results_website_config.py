"""results_website's nginx.conf: the public locations answer the rate limits before
the WAF runs (the lab tier measures what that saves; see the role README)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")

WEB = {"results_website_upstream": "http://127.0.0.1:8081",
       "results_website_tls_certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----",
       "results_website_tls_private_key": "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----"}


def _locations(server: str) -> dict[str, str]:
    """location name -> its block (the role's blocks nest at most one level: limit_except)."""
    blocks: dict[str, str] = {}
    for m in re.finditer(r"\n        location ([^{]+?) \{\n(.*?)\n        \}", server, re.S):
        blocks[m.group(1).strip()] = m.group(2)
    return blocks


def test_public_locations_hand_requests_to_the_waf_only_after_the_limits(tmp_path: Path) -> None:
    conf = render_role_template(tmp_path, "results_website", "nginx.conf.j2", os_vars=True, **WEB)
    https = next(s for s in re.split(r"\n    server \{", conf)[1:] if "listen 443 ssl" in s)
    locations = _locations(https)
    public = {name: body for name, body in locations.items() if not name.startswith("@")}
    assert set(public) == {"/", "/live/"}, sorted(locations)
    served = {}
    for name, body in public.items():
        # the WAF off where limit_req/limit_conn answer; nothing served from here
        handoff = re.fullmatch(r'\s*modsecurity off;\s*try_files "" (@\w+);\s*', body)
        assert handoff, f"{name}: anything but the hand-off in a location without the WAF: {body!r}"
        served[name] = named = locations[handoff.group(1)]
        assert "modsecurity on;" in named and "limit_except GET { deny all; }" in named, name
    assert "try_files $uri $uri/ =404;" in served["/"]
    assert "proxy_pass http://127.0.0.1:8081;" in served["/live/"]


def test_the_waf_loads_the_crs_groups_listed_in_order_and_no_others(tmp_path: Path) -> None:
    """The rule groups that can do nothing on this site are not loaded (each loaded
    rule costs libmodsecurity time on every request); the order stays the CRS's."""
    conf = render_role_template(tmp_path, "results_website", "modsecurity.conf.j2", os_vars=True,
                                __results_website_mode="normal", **WEB)
    includes = re.findall(r"^Include (\S+)$", conf, re.M)
    crs = [i.rsplit("/", 1)[1] for i in includes if i.startswith("/usr/share/modsecurity-crs/rules/")]
    assert crs == ["REQUEST-901-INITIALIZATION.conf", "REQUEST-905-COMMON-EXCEPTIONS.conf",
                   "REQUEST-911-METHOD-ENFORCEMENT.conf", "REQUEST-913-SCANNER-DETECTION.conf",
                   "REQUEST-92*.conf", "REQUEST-93*.conf", "REQUEST-94*.conf"], includes
    # the site's own exclusions come before the CRS rules they exclude
    assert includes[0].endswith("/crs-exclusions.conf"), includes
    assert not any("RESPONSE-" in i or "*.conf" == i.rsplit("/", 1)[1] for i in includes), includes

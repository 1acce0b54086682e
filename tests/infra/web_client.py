"""A small HTTPS client for the results website tests (stdlib only, no downloads).

The lab forwards each VM's port 443 to a loopback port of the controller
(``lab_forward_https``). Every client of the tests connects through qemu's NAT,
which the lab inventory declares as the site's load balancer
(``results_website_real_ip_from``), so ``X-Forwarded-For`` names the client the
site sees: the tests use distinct documentation addresses per client.
"""

from __future__ import annotations

import http.client
import os
import ssl
import time
from dataclasses import dataclass, field
from typing import Any

from tests.infra.lab_host import hostvars


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Site:
    """The hardened site of one lab host, as a browser on the internet sees it."""

    port: int
    http_port: int
    ca_file: str
    server_name: str = "results-tx"
    extra_headers: dict[str, str] = field(default_factory=dict)

    def context(self, maximum: ssl.TLSVersion | None = None, minimum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=self.ca_file)
        if maximum is not None or minimum is not None:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # let the client OFFER old protocols
            if minimum is not None:
                ctx.minimum_version = minimum
            if maximum is not None:
                ctx.maximum_version = maximum
        return ctx

    def connection(self, timeout: float = 20) -> http.client.HTTPSConnection:
        return http.client.HTTPSConnection("127.0.0.1", self.port, timeout=timeout, context=self.context())

    def request(self, path: str, *, client: str = "198.51.100.10", method: str = "GET",
                headers: dict[str, str] | None = None, body: bytes | None = None,
                conn: http.client.HTTPSConnection | None = None, timeout: float = 20) -> Reply:
        own = conn is None
        c = conn or self.connection(timeout)
        hdrs = {"Host": self.server_name, "User-Agent": "Mozilla/5.0 (X11; Linux x86_64) results-test",
                "Accept": "text/html,application/json;q=0.9,*/*;q=0.8", "X-Forwarded-For": client,
                **self.extra_headers, **(headers or {})}
        start = time.monotonic()
        try:
            c.request(method, path, body=body, headers=hdrs)
            r = c.getresponse()
            data = r.read()
            return Reply(r.status, {k.lower(): v for k, v in r.getheaders()}, data, time.monotonic() - start)
        finally:
            if own:
                c.close()


def site_of(host: Any) -> Site:
    hv = hostvars(host)
    if "results_web" not in hv.get("group_names", []):
        import pytest

        pytest.skip("not a results_web host")
    for key in ("lab_forward_https", "lab_forward_http", "lab_tls_ca_certificate"):
        if key not in hv:
            import pytest

            pytest.skip(f"the inventory has no {key} (not a lab fleet with forwarded ports)")
    return Site(port=int(hv["lab_forward_https"]), http_port=int(hv["lab_forward_http"]),
                ca_file=os.path.expandvars(str(hv["lab_tls_ca_certificate"])))  # molecule: ${MOLECULE_...}

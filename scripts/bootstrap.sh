#!/usr/bin/env bash
# Install everything this project needs on a fresh Debian 12 machine, idempotently:
# Debian packages (qemu, mmdebstrap, PostgreSQL, AIDE, openssl...) and a Python
# virtual environment in .venv with the exact versions of constraints.txt.
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # lab: build Debian 12 images and run them as emulated VMs
  qemu-system-x86 qemu-utils ipxe-qemu mmdebstrap e2fsprogs netcat-openbsd dpkg-dev wrk
  openssh-client ca-certificates
  # freeze tool: real PostgreSQL for tests, AIDE as the benchmark reference,
  # openssl for the local timestamp authority, fonts and pango for the PDF report
  postgresql postgresql-client aide openscap-scanner openssl libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core
  poppler-utils
  # freeze tests: a throw-away sshd on a loopback port; nft for the firewall collector
  openssh-server nftables
  # log_shipper/log_collector unit tests: rsyslogd -N1 on the rendered configuration
  rsyslog rsyslog-relp
  # monitoring_server unit tests: promtool (check + rule unit tests), amtool, blackbox --config.check
  prometheus prometheus-alertmanager prometheus-blackbox-exporter
  # traffic_report: goaccess parses the website's access lines in a unit test; the lab
  # proof reads the live report in headless Chromium and saves its screenshot
  goaccess chromium
  python3-venv git
)

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The Debian package starts a cluster we do not use: the tests start their own.
if [ -n "${CI:-}" ] && command -v pg_lsclusters >/dev/null; then
  $SUDO pg_ctlcluster 15 main stop >/dev/null 2>&1 || true
  # nor the Prometheus daemons (only their check tools are used; 9090/9093 stay free)
  for s in prometheus prometheus-alertmanager prometheus-blackbox-exporter; do
    $SUDO service "$s" stop >/dev/null 2>&1 || true
  done
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
if [ ! -e "$stamp" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/pip install -q -c constraints.txt -e '.[test]' >.venv/pip.log 2>&1 \
    || { tail -30 .venv/pip.log; echo "bootstrap: pip install failed (full log: .venv/pip.log)"; exit 1; }
  rm -f .venv/.installed-*
  touch "$stamp"
fi

# The repository root is the Ansible collection election.freeze. ansible.cfg's
# collections_path points at .collections, where this link makes the checkout
# itself resolve as election.freeze (roles, modules and filters by FQCN) with no
# build or install step. Relative, so the checkout can move. Ignored by git,
# excluded from the collection build, yamllint and ansible-lint (it loops back).
link=.collections/ansible_collections/election/freeze
if [ "$(readlink "$link" 2>/dev/null)" != "../../.." ]; then
  mkdir -p "$(dirname "$link")"
  ln -sfn ../../.. "$link"
fi

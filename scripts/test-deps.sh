#!/usr/bin/env bash
# System packages some integration tests use: chromium (the dashboard test, headless), promtool
# (Debian package "prometheus", checks /metrics), and for the lab's packet loss/delay (tests/lab, root
# only) iptables + libnetfilter-queue-dev, then the NetfilterQueue module in the venv (built from PyPI). Installed with apt-get --no-install-recommends when
# missing and we are root (or sudo works without a password). No daemon is ever started: a temporary
# /usr/sbin/policy-rc.d that exits 101 makes invoke-rc.d refuse every service start during the install
# (an existing one is kept as it is), and the prometheus services are stopped/disabled if anything
# started them anyway. When nothing can be installed, one line says which tests will skip. Never fails
# the build: the tests skip with a reason instead.
set -uo pipefail

VENV=${VENV:-.venv}
need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
if [ "$(id -u)" -eq 0 ]; then  # the lab (network namespaces) runs only as root: its tools only then
  command -v iptables >/dev/null 2>&1 || need+=(iptables)
  [ -e /usr/include/libnetfilter_queue/libnetfilter_queue.h ] || need+=(libnetfilter-queue-dev)
fi

nfq_module() {  # the lab's delay helper needs NetfilterQueue in the venv (compiled against the header)
  if [ "$(id -u)" -eq 0 ] && [ -x "$VENV/bin/python" ] && ! "$VENV/bin/python" -c 'import netfilterqueue' 2>/dev/null; then
    "$VENV/bin/python" -m pip install -q NetfilterQueue >/dev/null 2>&1 \
      || echo "test-deps: pip install NetfilterQueue failed; the lab's packet loss/delay test will skip" >&2
  fi
}
if [ ${#need[@]} -eq 0 ]; then nfq_module; exit 0; fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if sudo -n true 2>/dev/null; then SUDO="sudo -n"; else SUDO=none; fi
fi
if [ "$SUDO" = none ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "test-deps: cannot install ${need[*]} (needs root/sudo and apt-get); the dashboard (chromium) and/or promtool tests will skip" >&2
  exit 0
fi

guard=/usr/sbin/policy-rc.d
created_guard=0
if [ ! -e "$guard" ]; then
  printf '#!/bin/sh\n# temporary: zbus scripts/test-deps.sh forbids service starts during its install\nexit 101\n' \
    | $SUDO tee "$guard" >/dev/null
  $SUDO chmod 755 "$guard"
  created_guard=1
fi
cleanup() { if [ "$created_guard" = 1 ]; then $SUDO rm -f "$guard"; fi; }
trap cleanup EXIT

echo "test-deps: installing ${need[*]} (apt-get --no-install-recommends; no services started)" >&2
export DEBIAN_FRONTEND=noninteractive
apt=($SUDO apt-get -o DPkg::Lock::Timeout=300 -y -qq --no-install-recommends)
if ! "${apt[@]}" install "${need[@]}" >/dev/null 2>&1; then
  $SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null 2>&1
  if ! "${apt[@]}" install "${need[@]}" >/dev/null 2>&1; then
    echo "test-deps: apt-get install ${need[*]} failed; the dashboard (chromium) and/or promtool tests will skip" >&2
    exit 0
  fi
fi
nfq_module
# belt and braces: nothing from the prometheus package may keep running or start at boot
for unit in prometheus prometheus-node-exporter; do
  if command -v systemctl >/dev/null 2>&1 && [ -d /run/systemd/system ]; then
    $SUDO systemctl disable --now "$unit" >/dev/null 2>&1 || true
  fi
done
exit 0

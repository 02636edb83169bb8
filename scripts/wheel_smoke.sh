#!/usr/bin/env bash
# Build zbus's sdist and wheel, install the wheel alone into a fresh venv outside the checkout, and
# use it from there: import, `zbus --version`, `python -m zbus`, `zbus config init`, a two-node
# publish on loopback (two CLI processes), and `zbus demo --duration 5`.
#
#   scripts/wheel_smoke.sh                     # with python3 (or $PYTHON)
#   PYTHONS="python3.11 python3.12 python3.13" scripts/wheel_smoke.sh   # the wheel on each of them
#
# The wheel is built once (with `python -m build`, which builds the sdist and then the wheel from
# the sdist, so a file missing from the sdist fails here). Everything happens in a mktemp directory
# that is removed at the end; nothing is written to the checkout. Needs PyPI for the dependencies.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PYTHONS=${PYTHONS:-${PYTHON:-python3}}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/zbus-wheel-smoke.XXXXXX")
cleanup() { rm -rf "$WORK"; }
trap cleanup EXIT
[ -z "${KEEP_SMOKE:-}" ] || trap - EXIT
say() { echo "== wheel smoke: $*" >&2; }
# as root, the wheel is used in a private network namespace (its own loopback): its nodes' mDNS and
# sockets meet nothing else on this host, so CI can run this beside the test suite
isolated() {
  if [ "$(id -u)" -eq 0 ] && command -v ip >/dev/null && unshare -n true 2>/dev/null; then
    unshare -n sh -c 'ip link set lo up && exec "$@"' isolated "$@"
  else
    "$@"
  fi
}
pip_quiet() { "$@" -q --disable-pip-version-check 2>&1 | grep -v "^WARNING: Location 'file:" || true; }

first=${PYTHONS%% *}
say "building sdist and wheel with $first"
"$first" -m venv "$WORK/build"
pip_quiet "$WORK/build/bin/python" -m pip install build
(cd "$ROOT" && "$WORK/build/bin/python" -m build --outdir "$WORK/dist" . >"$WORK/build.log" 2>&1) || {
  tail -40 "$WORK/build.log" >&2
  exit 1
}
sdist=$(ls "$WORK"/dist/zbus-*.tar.gz)
wheel=$(ls "$WORK"/dist/zbus-*.whl)
tar -tzf "$sdist" >"$WORK/sdist.list"
for member in LICENSE CHANGELOG.md zbus/config/default.toml zbus/config/production.toml; do
  grep -q "/$member\$" "$WORK/sdist.list" || { echo "wheel smoke: the sdist lacks $member" >&2; exit 1; }
done
say "built $(basename "$sdist") and $(basename "$wheel")"

for py in $PYTHONS; do
  if ! command -v "$py" >/dev/null; then
    echo "wheel smoke: $py not found" >&2
    exit 1
  fi
  version=$("$py" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
  venv="$WORK/venv-$version"
  say "installing the wheel into a fresh Python $version venv"
  "$py" -m venv "$venv"
  pip_quiet "$venv/bin/python" -m pip install "$wheel"
  run="$WORK/run-$version"
  mkdir -p "$run"
  (cd "$run" && PATH="$venv/bin:$PATH" isolated bash "$ROOT/scripts/wheel_smoke_use.sh" "$version")
done
say "passed"

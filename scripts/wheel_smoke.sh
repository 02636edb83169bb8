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
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -z "${KEEP_SMOKE:-}" ] || trap - EXIT
say() { echo "== wheel smoke: $*" >&2; }
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
  cd "$run"  # outside the checkout: only the installed wheel can be imported
  export PATH="$venv/bin:$PATH"
  unset ZBUS_CONFIG PYTHONPATH
  for var in $(env | grep -o '^ZBUS_[A-Z0-9_]*' || true); do unset "$var"; done

  python - <<'EOF'
import pathlib, zbus
where = pathlib.Path(zbus.__file__).resolve()
assert "site-packages" in where.parts, f"imported zbus from {where}, not from the installed wheel"
print("import ok:", zbus.__version__, where.parent)
EOF
  zbus --version
  python -m zbus --version
  zbus config init --profile production --output prod.toml
  zbus config validate prod.toml
  ZBUS_CONFIG=prod.toml zbus config show --toml | grep -q '^durability = "sync"'

  say "two nodes on loopback: zbus sub + zbus pub (Python $version)"
  mesh="smoke-$$-$RANDOM"
  zbus sub 'smoke.*' --mesh "$mesh" --count 1 --json >sub.out 2>sub.err &
  PIDS+=($!)
  sub_pid=$!
  zbus pub smoke.hello '{"n": 1}' --mesh "$mesh" --timeout 20 >pub.out
  for _ in $(seq 1 200); do  # the subscriber exits after its one event: up to 20 s
    kill -0 "$sub_pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$sub_pid" 2>/dev/null; then
    echo "wheel smoke: the subscriber got nothing within 20 s" >&2
    cat sub.err >&2
    exit 1
  fi
  wait "$sub_pid"
  grep -q '"n": 1' sub.out || { echo "unexpected subscriber output:" >&2; cat sub.out sub.err >&2; exit 1; }
  echo "two-node publish ok: $(cat sub.out)"

  say "zbus demo --duration 5 (Python $version)"
  timeout 60 zbus demo --duration 5 >demo.out 2>demo.err || {
    echo "zbus demo failed:" >&2
    tail -20 demo.out demo.err >&2
    exit 1
  }
  test -s demo.out
  echo "demo ok: $(wc -l <demo.out) lines"
  cd "$ROOT"
done
say "passed"

#!/usr/bin/env bash
# The part of scripts/wheel_smoke.sh that uses an installed wheel: run in an empty directory outside the
# checkout with the wheel's venv first on PATH (only the installed wheel can be imported). Needs no
# network beyond loopback, so wheel_smoke.sh may run it in a private network namespace.
#
#   PATH="$VENV/bin:$PATH" scripts/wheel_smoke_use.sh 3.11
set -euo pipefail
version=$1
say() { echo "== wheel smoke: $*" >&2; }
sub_pid=""
trap '[ -z "$sub_pid" ] || kill "$sub_pid" 2>/dev/null || true' EXIT
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

#!/usr/bin/env bash
# Core dumps for CI, so that a crash of the test runner leaves a C stack in the log.
#
#   source scripts/ci_cores.sh && cores_on    # before the command to watch (this shell and its children)
#   cores_report EXE                          # after it: every thread's stack of each core (EXE: the
#                                             # program that dumped, e.g. the venv's python), then removes them
#
# Why: faulthandler (PYTHONFAULTHANDLER) prints the Python stacks when a Python thread crashes, but a
# thread that blocks all signals, as libzmq's I/O threads do, is killed by the kernel without running
# any handler: pytest then dies with "Segmentation fault" and nothing else (seen twice in CI runs,
# 2026-12-05 and 2026-12-06). Only a core shows where. As root on a CI machine, the kernel's core
# pattern is pointed at a directory of ours for the run and put back at exit; elsewhere this does
# nothing.

ZBUS_CORES=${ZBUS_CORES:-/tmp/zbus-ci-cores}
_zbus_core_pattern=""

cores_on() {
  local pattern=/proc/sys/kernel/core_pattern
  [ "$(id -u)" -eq 0 ] && [ -w "$pattern" ] || return 0
  mkdir -p "$ZBUS_CORES" || return 0
  _zbus_core_pattern=$(cat "$pattern")
  # an earlier run that was killed before cores_report left ours in place: put back the kernel's default
  [ "$_zbus_core_pattern" != "$ZBUS_CORES/core.%e.%p" ] || _zbus_core_pattern=core
  if echo "$ZBUS_CORES/core.%e.%p" >"$pattern" 2>/dev/null; then
    ulimit -S -c unlimited 2>/dev/null || ulimit -S -c "$(ulimit -H -c)" 2>/dev/null || true
  else
    _zbus_core_pattern=""
  fi
}

cores_report() {
  local exe
  exe=$(readlink -f "${1:-$(command -v python3)}")
  if [ -n "$_zbus_core_pattern" ]; then
    echo "$_zbus_core_pattern" >/proc/sys/kernel/core_pattern 2>/dev/null || true
    _zbus_core_pattern=""
  fi
  ulimit -S -c 0 2>/dev/null || true
  local core found=0
  for core in "$ZBUS_CORES"/core.*; do
    [ -e "$core" ] || continue
    found=1
    echo "== crash: $core ($(du -h "$core" | cut -f1))"
    if ! command -v gdb >/dev/null; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gdb >/dev/null 2>&1 || true
    fi
    if command -v gdb >/dev/null; then
      # every thread's C stack, then (where CPython's gdb helpers load) its Python stack
      timeout 120 gdb -batch -nx -iex "set auto-load safe-path /" -ex "set pagination off" \
        -ex "info threads" -ex "thread apply all bt 40" -ex "thread apply all py-bt" \
        "$exe" "$core" 2>&1 | grep -v "^\[New LWP\|^warning: \|^Download" | tail -600 || true
    else
      echo "(gdb is not available: no stack)"
    fi
    rm -f "$core"
  done
  [ "$found" -eq 0 ] || echo "== crash: end"
}

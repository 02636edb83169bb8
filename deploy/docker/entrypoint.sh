#!/bin/sh
# zbus container entrypoint: the arguments are a zbus command, `node start` when there are none.
# `node start` and `forwarder` are named $ZBUS_NODE_NAME, else the container's host name ($HOSTNAME:
# compose's `hostname:`, a Kubernetes pod's name), so peers and dashboards show stable names.
# zbus is exec'd: it receives SIGTERM itself, says BYE to its peers and commits its journal.
# Every setting comes from ZBUS_* variables (Dockerfile ENV, compose `environment:`, a ConfigMap).
set -eu
[ "$#" -gt 0 ] || set -- node start
name=${ZBUS_NODE_NAME:-${HOSTNAME:-$(cat /proc/sys/kernel/hostname)}}
if [ "$1" = node ] && [ "${2:-}" = start ]; then
  shift 2
  exec zbus node start --name "$name" "$@"
fi
if [ "$1" = forwarder ]; then
  shift
  exec zbus forwarder --name "$name" "$@"
fi
exec zbus "$@"

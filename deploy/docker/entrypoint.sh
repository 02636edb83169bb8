#!/bin/sh
# zbus container entrypoint: the arguments are a zbus command, `node start` when there are none.
# `node start` and `forwarder` are named $ZBUS_NODE_NAME, else the container's host name ($HOSTNAME:
# compose's `hostname:`, a Kubernetes pod's name), so peers and dashboards show stable names.
# zbus is exec'd: it receives SIGTERM itself, says BYE to its peers and commits its journal.
# Every setting comes from ZBUS_* variables (Dockerfile ENV, compose `environment:`, a ConfigMap).
# The image serves HTTP on 0.0.0.0, which needs a token: without ZBUS_MONITORING__HTTP__TOKEN or
# _TOKEN_FILE, one is made once in the volume (/var/lib/zbus/http.token, 0600; `docker exec CONTAINER
# cat /var/lib/zbus/http.token`), or in a private temporary file when the volume is not writable.
set -eu
[ "$#" -gt 0 ] || set -- node start
if [ -z "${ZBUS_MONITORING__HTTP__TOKEN:-}${ZBUS_MONITORING__HTTP__TOKEN_FILE:-}" ]; then
  token_file=/var/lib/zbus/http.token
  if [ ! -s "$token_file" ]; then
    [ -w "${token_file%/*}" ] || token_file=$(mktemp)
    (umask 077 && python3 -c 'import secrets; print(secrets.token_urlsafe(24))' > "$token_file")
  fi
  export ZBUS_MONITORING__HTTP__TOKEN_FILE="$token_file"
fi
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

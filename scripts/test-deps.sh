#!/usr/bin/env bash
# Installs and starts what the test suite needs on a Debian machine: Chromium (for the web inbox end-to-end
# tests), dovecot (a real IMAP server), and checks PostgreSQL and Redis. In CI (CI=true) anything missing
# is an error; elsewhere the tests that need it are skipped with the reason printed.
set -uo pipefail

need_apt=()
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -x /usr/sbin/dovecot ] || need_apt+=(dovecot-imapd)
command -v wrk >/dev/null || need_apt+=(wrk)  # load generator of tests/perf (make bench)

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "installing ${need_apt[*]} (apt-get)"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "missing ${need_apt[*]}: install them with apt-get (as root) for the full suite"
  fi
fi
# Debian starts dovecot as a system service on install; the tests run their own rootless instance.
if command -v systemctl >/dev/null 2>&1; then systemctl stop dovecot >/dev/null 2>&1 || true; fi
pkill -x dovecot >/dev/null 2>&1 || true

pg_ok() { (exec 3<>/dev/tcp/127.0.0.1/5432) 2>/dev/null; }
redis_ok() { (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; }
if ! pg_ok && [ "$(id -u)" = "0" ] && command -v pg_ctlcluster >/dev/null; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
fi
if ! redis_ok && command -v redis-server >/dev/null; then
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no >/dev/null || true
fi

status=0
if [ "${CI:-}" = "true" ]; then
  [ -x /usr/bin/chromium ] || { echo "CI: /usr/bin/chromium is missing"; status=1; }
  [ -x /usr/sbin/dovecot ] || { echo "CI: dovecot is missing"; status=1; }
  command -v wrk >/dev/null || { echo "CI: wrk is missing"; status=1; }
  pg_ok || { echo "CI: PostgreSQL is not answering on 127.0.0.1:5432"; status=1; }
  redis_ok || { echo "CI: Redis is not answering on 127.0.0.1:6379"; status=1; }
fi
exit $status

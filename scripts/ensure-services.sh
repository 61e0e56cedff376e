#!/usr/bin/env bash
# Make sure the services the test suite talks to are up: start any that are installed but stopped.
# Each check is quick when the service already answers.
set -u

wait_for() {  # name, command...
  local name=$1; shift
  for _ in $(seq 1 30); do
    if "$@" >/dev/null 2>&1; then echo "  $name: up"; return 0; fi
    sleep 1
  done
  echo "  $name: not reachable" >&2
  return 1
}

echo "Checking services:"

if ! pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && ls /etc/postgresql >/dev/null 2>&1; then
    echo "  PostgreSQL is stopped: starting it"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  else
    echo "  PostgreSQL is not installed here; set DATABASE_URL to a server you have." >&2
  fi
fi
wait_for PostgreSQL pg_isready -q -h 127.0.0.1 -p 5432 || exit 1

if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  if command -v redis-server >/dev/null 2>&1; then
    echo "  Redis is stopped: starting it"
    mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
  else
    echo "  Redis is not installed here; set REDIS_URL to a server you have." >&2
  fi
fi
wait_for Redis redis-cli -h 127.0.0.1 -p 6379 ping || exit 1

mqtt_up() { timeout 2 bash -c '</dev/tcp/127.0.0.1/1883'; }
if ! mqtt_up; then
  if command -v mosquitto >/dev/null 2>&1; then
    echo "  Mosquitto is stopped: starting it"
    mosquitto -d -c /etc/mosquitto/mosquitto.conf || true
  fi
fi
wait_for Mosquitto mqtt_up || echo "  (MQTT tests will fail without a broker on 127.0.0.1:1883)" >&2
exit 0

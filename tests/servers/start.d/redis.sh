# redis: Redis on 127.0.0.1:6379 (Debian's redis-server), no persistence.
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_redis() {
  answers 6379 && return 0
  command -v redis-server >/dev/null || install redis-server
  mkdir -p /var/lib/redis /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis 6379 30
}

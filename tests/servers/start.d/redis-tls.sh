# redis-tls: a second Redis that speaks only TLS, on 127.0.0.1:6380, with the test CA's server
# certificate; client certificates are checked when given. Owned by these scripts (pidfile).
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_redis_tls() {
  ensure_tls
  local pidfile=/run/bindery-redis-tls.pid
  if [ "$tls_made" = new ]; then stop_pidfile "$pidfile"; fi
  answers 6380 && return 0
  command -v redis-server >/dev/null || install redis-server
  mkdir -p /var/lib/redis/tls /var/log/redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 0 --tls-port 6380 \
    --tls-cert-file "$tls_dir/server.crt" --tls-key-file "$tls_dir/server.key" \
    --tls-ca-cert-file "$tls_dir/ca.crt" --tls-auth-clients optional \
    --save "" --appendonly no --dir /var/lib/redis/tls --pidfile "$pidfile" \
    --logfile /var/log/redis/ci-tls.log
  wait_for redis-tls 6380 30
}

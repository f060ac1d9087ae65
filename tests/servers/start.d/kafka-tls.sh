# kafka-tls: Kafka over TLS with client certificates required, on 127.0.0.1:9094. tansu 0.6
# does not speak TLS itself, so socat (OpenSSL) terminates TLS on 9094 with the test CA's
# server certificate, asks for a client certificate signed by that CA, and forwards to a
# tansu on 127.0.0.1:9095 that advertises 9094, so that every connection goes through TLS.
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_kafka_tls() {
  ensure_tls
  local pidfile=/run/bindery-kafka-tls-socat.pid
  if [ "$tls_made" = new ]; then stop_pidfile "$pidfile"; fi
  answers 9095 || { tansu_broker 9095 9094 /tmp/tansu-tls.log; wait_for kafka-tls-backend 9095 60; }
  answers 9094 && return 0
  command -v socat >/dev/null || install socat
  nohup socat \
    "openssl-listen:9094,bind=127.0.0.1,reuseaddr,fork,cert=$tls_dir/server.crt,key=$tls_dir/server.key,cafile=$tls_dir/ca.crt,verify=1" \
    tcp:127.0.0.1:9095 >/tmp/kafka-tls-socat.log 2>&1 &
  echo $! >"$pidfile"
  wait_for kafka-tls 9094 30
}

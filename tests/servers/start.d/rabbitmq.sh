# rabbitmq: RabbitMQ on 127.0.0.1:5672 (Debian's rabbitmq-server).
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_rabbitmq() {
  answers 5672 && return 0
  command -v rabbitmq-server >/dev/null || install rabbitmq-server
  RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 rabbitmq-server -detached
  wait_for rabbitmq 5672 120
}

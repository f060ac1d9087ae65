# kafka: tansu, a Kafka-protocol broker (memory storage), on 127.0.0.1:9092.
# aliases: tansu
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_kafka() {
  answers 9092 && return 0
  tansu_broker 9092 9092 /tmp/tansu.log
  wait_for kafka 9092 60
}

# kafka-sasl: a second tansu that requires SASL authentication (SCRAM) on 127.0.0.1:9093. Its
# memory storage keeps no SCRAM credentials, so every login fails: the tests use it for the
# authentication-failure path only.
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_kafka_sasl() {
  answers 9093 && return 0
  tansu_broker 9093 9093 /tmp/tansu-sasl.log --authentication
  wait_for kafka-sasl 9093 60
}

# mosquitto: the Mosquitto MQTT broker on 127.0.0.1:1883 (Debian's mosquitto).
# aliases: mqtt
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_mosquitto() {
  answers 1883 && return 0
  command -v mosquitto >/dev/null || install mosquitto
  if [ -f /etc/mosquitto/mosquitto.conf ]; then
    mosquitto -d -c /etc/mosquitto/mosquitto.conf
  else
    mosquitto -d -p 1883
  fi
  wait_for mosquitto 1883 30
}

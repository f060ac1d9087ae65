# What the server scripts of tests/servers/start.d share, sourced by tests/servers/start
# (which sources each server script into the same shell, so this state is shared: apt's
# package lists are updated once, the TLS material is checked or made once).
#
#   answers PORT                      something accepts connections on 127.0.0.1:PORT
#   wait_for NAME PORT SECONDS        wait until it does, or fail saying so
#   install PACKAGE...                apt-get install (apt-get update once first)
#   ensure_tls                        the test CA and certificates in $tls_dir; sets tls_made
#                                     to "new" when it made them (TLS instances then restart)
#   copy_server_cert FOLDER OWNER     the server certificate where a server's user can read it
#   stop_pidfile PIDFILE              stop a server these scripts started
#   tansu_broker PORT ADVERTISED LOG [OPTIONS...]   a tansu Kafka broker in the background
#
# shellcheck shell=bash

# TLS: one test CA and a server certificate for localhost and 127.0.0.1 signed by it live in
# $BINDERY_TLS_DIR (default ~/.cache/bindery/tls: ca.crt, server.crt, server.key, and
# client.crt/client.key for the name bindery_cert), made once with openssl.
tls_dir="${BINDERY_TLS_DIR:-$HOME/.cache/bindery/tls}"

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_for() { # name port seconds
  for _ in $(seq 1 $(($3 * 5))); do
    answers "$2" && { echo "   $1 answers on 127.0.0.1:$2"; return 0; }
    sleep 0.2
  done
  echo "$1 did not answer on 127.0.0.1:$2 within $3 s" >&2
  return 1
}

apt_updated=""
install() { # debian packages...
  if [ -z "$apt_updated" ]; then apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# The test CA, the server certificate (localhost, 127.0.0.1) and a client certificate.
# Made again, all of them, when one is missing; the TLS instances are then restarted.
tls_made=""
ensure_tls() {
  [ -z "$tls_made" ] || return 0
  tls_made=kept
  local f
  for f in ca.crt ca.key server.crt server.key client.crt client.key; do
    [ -s "$tls_dir/$f" ] || tls_made=""
  done
  [ -z "$tls_made" ] || return 0
  command -v openssl >/dev/null || install openssl
  echo "   making the test CA and certificates in $tls_dir"
  mkdir -p "$tls_dir"
  local tmp
  tmp="$(mktemp -d)"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=bindery test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$tmp/ca.key" -out "$tmp/ca.crt" 2>/dev/null
  leaf() { # name subject extensions
    openssl req -newkey rsa:2048 -nodes -subj "$2" -keyout "$tmp/$1.key" -out "$tmp/$1.csr" 2>/dev/null
    printf '%b' "$3" >"$tmp/$1.ext"
    openssl x509 -req -in "$tmp/$1.csr" -CA "$tmp/ca.crt" -CAkey "$tmp/ca.key" -CAcreateserial \
      -days 3650 -extfile "$tmp/$1.ext" -out "$tmp/$1.crt" 2>/dev/null
  }
  leaf server /CN=localhost "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
  leaf client /CN=bindery_cert "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n"
  chmod 600 "$tmp"/*.key
  chmod 644 "$tmp"/*.crt
  for f in ca.crt ca.key server.crt server.key client.crt client.key; do mv "$tmp/$f" "$tls_dir/$f"; done
  rm -rf "$tmp"
  tls_made=new
}

# Copy the server certificate and key to a folder the server's user owns (it may not be able
# to read $HOME). Prints nothing; returns 0 when the copies changed.
copy_server_cert() { # folder owner
  local changed=1 f
  for f in server.crt server.key ca.crt; do
    if ! cmp -s "$tls_dir/$f" "$1/bindery-$f"; then
      command install -m 600 -o "$2" -g "$2" "$tls_dir/$f" "$1/bindery-$f"
      changed=0
    fi
  done
  return $changed
}

# Stop a server this script started, by the pid it wrote.
stop_pidfile() { # pidfile
  local pid
  [ -s "$1" ] || return 0
  pid="$(cat "$1")"
  kill "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
}

# Apache Kafka has no Debian package; tansu (a Kafka-compatible broker in Rust, in-memory
# storage here) is installed with cargo into the shared cache (10-20 minutes, once). The
# kafka, kafka-sasl and kafka-tls servers are each one tansu.
tansu_bin() {
  local root="$HOME/.cache/bindery/tansu"
  if [ ! -x "$root/bin/tansu" ]; then
    echo "   installing tansu with cargo (10-20 minutes, once) into $root" >&2
    cargo install tansu --locked --features dynostore,postgres --root "$root" >/tmp/tansu-install.log 2>&1 ||
      { echo "cargo install tansu failed; see /tmp/tansu-install.log" >&2; return 1; }
  fi
  echo "$root/bin/tansu"
}

tansu_broker() { # port advertised-port log [tansu broker options...]
  local port="$1" advertised="$2" log="$3" bin
  shift 3
  bin="$(tansu_bin)"
  nohup "$bin" broker \
    --listener-url "tcp://127.0.0.1:$port" \
    --advertised-listener-url "tcp://127.0.0.1:$advertised" \
    --storage-engine memory://tansu/ "$@" >"$log" 2>&1 &
}

# moto: moto's server, a local stand-in for AWS (S3, SQS, SNS, DynamoDB, Kinesis on one
# port), on 127.0.0.1:5000. It takes any access key and keeps everything in memory. A second
# one on 127.0.0.1:5001 checks the keys (INITIAL_NO_AUTH_ACTION_COUNT=0: it knows none, so
# every key is wrong there), for the wrong-credentials tests. Installed from PyPI
# (moto[server], pinned) into its own virtualenv in the shared cache, once.
# aliases: aws s3 sqs sns dynamodb kinesis
# shellcheck shell=bash
moto_version=5.2.5
start_moto() {
  answers 5000 && answers 5001 && return 0
  local root="$HOME/.cache/bindery/moto"
  if [ ! -x "$root/bin/moto_server" ] || ! "$root/bin/python" -c "
import importlib.metadata, sys
sys.exit(importlib.metadata.version('moto') != '$moto_version')" 2>/dev/null; then
    echo "   installing moto[server]==$moto_version into $root" >&2
    python3 -m venv "$root" 2>/dev/null || {
      install python3-venv
      python3 -m venv "$root"
    }
    "$root/bin/pip" install -q --disable-pip-version-check "moto[server]==$moto_version" >/tmp/moto-install.log 2>&1 ||
      { echo "pip install moto[server] failed; see /tmp/moto-install.log" >&2; return 1; }
  fi
  if ! answers 5000; then
    nohup "$root/bin/moto_server" -H 127.0.0.1 -p 5000 >/tmp/moto.log 2>&1 &
  fi
  if ! answers 5001; then
    INITIAL_NO_AUTH_ACTION_COUNT=0 nohup "$root/bin/moto_server" -H 127.0.0.1 -p 5001 \
      >/tmp/moto-auth.log 2>&1 &
  fi
  wait_for moto 5000 60 && wait_for moto-auth 5001 60
}

# postgres: PostgreSQL on 127.0.0.1:5432 (Debian's postgresql cluster), trusting 127.0.0.1, with
# databases test and dapr_test (the one Dapr's test components use), the role bindery_pw
# (password, clear text), and TLS with the test CA's server certificate: the role bindery_tls
# may only connect over TLS, bindery_cert only with the test client certificate.
# aliases: postgresql
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_postgres() {
  if ! answers 5432; then
    command -v pg_ctlcluster >/dev/null || install postgresql
    local version
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    wait_for postgres 5432 60
  fi
  # Trust on 127.0.0.1 and a database `test`, as the tests expect.
  if ! psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select 1' >/dev/null 2>&1; then
    local hba
    hba="$(su postgres -c "psql -Atc 'show hba_file'")"
    sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
    su postgres -c "psql -Atc 'select pg_reload_conf()'" >/dev/null
  fi
  local db
  for db in test dapr_test; do
    psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_database where datname='$db'" | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -d postgres -c "create database $db" >/dev/null
  done
  # Dapr's conformance and certification components connect to dapr_test at host=localhost,
  # which may be ::1: trusted there too, for that database only.
  local hba
  hba="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'show hba_file')"
  if ! grep -q '^host dapr_test postgres ::1/128 trust' "$hba"; then
    sed -i '1i host dapr_test postgres ::1/128 trust' "$hba"
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select pg_reload_conf()' >/dev/null
  fi
  # A role that must give its password (asked in clear text), for the tests of a wrong one.
  if ! grep -q '^host all bindery_pw ' "$hba"; then
    sed -i '1i host all bindery_pw 127.0.0.1/32 password' "$hba"
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select pg_reload_conf()' >/dev/null
  fi
  psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_roles where rolname='bindery_pw'" | grep -q 1 ||
    psql -h 127.0.0.1 -U postgres -d postgres -c "create role bindery_pw login password 'bindery-right-password'" >/dev/null
  # TLS with the test CA's certificate (copied into the data folder, which the server can
  # read); a reload picks it up without dropping anyone's connection.
  ensure_tls
  local datadir
  datadir="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'show data_directory')"
  if copy_server_cert "$datadir" postgres ||
    [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'show ssl_cert_file')" != "$datadir/bindery-server.crt" ] ||
    [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'show ssl_ca_file')" != "$datadir/bindery-ca.crt" ] ||
    [ "$(psql -h 127.0.0.1 -U postgres -d postgres -Atc 'show ssl')" != on ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -q \
      -c "alter system set ssl_cert_file = '$datadir/bindery-server.crt'" \
      -c "alter system set ssl_key_file = '$datadir/bindery-server.key'" \
      -c "alter system set ssl_ca_file = '$datadir/bindery-ca.crt'" \
      -c "alter system set ssl = on" \
      -c "select pg_reload_conf()" >/dev/null
  fi
  local served=""
  for _ in $(seq 1 50); do
    psql "host=127.0.0.1 port=5432 user=postgres dbname=postgres sslmode=verify-full sslrootcert=$tls_dir/ca.crt" \
      -Atc 'select 1' >/dev/null 2>&1 && { served=1; break; }
    sleep 0.1
  done
  [ -n "$served" ] ||
    { echo "postgres does not serve the test certificate over TLS; see its log" >&2; return 1; }
  # A role that may only connect over TLS, for the tests of a plain connection to it, and one
  # that must show the test client certificate (its name is the role's).
  if ! grep -q '^hostssl all bindery_cert ' "$hba"; then
    sed -i '1i hostssl all bindery_tls 127.0.0.1/32 trust' "$hba"
    sed -i '1i hostnossl all bindery_tls 127.0.0.1/32 reject' "$hba"
    sed -i '1i hostssl all bindery_cert 127.0.0.1/32 cert' "$hba"
    sed -i '1i hostnossl all bindery_cert 127.0.0.1/32 reject' "$hba"
    psql -h 127.0.0.1 -U postgres -d postgres -Atc 'select pg_reload_conf()' >/dev/null
  fi
  local role
  for role in bindery_tls bindery_cert; do
    psql -h 127.0.0.1 -U postgres -d postgres -Atc "select 1 from pg_roles where rolname='$role'" | grep -q 1 ||
      psql -h 127.0.0.1 -U postgres -d postgres -c "create role $role login" >/dev/null
  done
}

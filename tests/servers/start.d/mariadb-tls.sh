# mariadb-tls: a second MariaDB that takes only TLS connections over TCP, on 127.0.0.1:3307
# (root, no password, database test), in its own data folder, with the test CA's server
# certificate. Owned by these scripts (pidfile).
# aliases: mysql-tls
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_mariadb_tls() {
  ensure_tls
  local datadir=/var/lib/bindery-mariadb-tls pidfile=/run/mysqld/bindery-tls.pid
  local sock=/run/mysqld/bindery-tls.sock
  command -v mariadbd >/dev/null || install mariadb-server
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld
  if [ ! -d "$datadir/mysql" ]; then
    mkdir -p "$datadir" && chown mysql:mysql "$datadir"
    mariadb-install-db --no-defaults --user=mysql --datadir="$datadir" \
      --auth-root-authentication-method=normal --skip-test-db >/dev/null
  fi
  if copy_server_cert "$datadir" mysql || [ "$tls_made" = new ]; then stop_pidfile "$pidfile"; fi
  if ! answers 3307; then
    setsid /usr/sbin/mariadbd --no-defaults --user=mysql --datadir="$datadir" \
      --bind-address=127.0.0.1 --port=3307 --socket="$sock" --pid-file="$pidfile" \
      --log-error="$datadir/error.log" --innodb-buffer-pool-size=32M --skip-name-resolve \
      --ssl-ca="$datadir/bindery-ca.crt" --ssl-cert="$datadir/bindery-server.crt" \
      --ssl-key="$datadir/bindery-server.key" --require-secure-transport=ON \
      </dev/null >/dev/null 2>&1 &
    wait_for mariadb-tls 3307 60
  fi
  # root from 127.0.0.1 over TCP (the install made root@localhost only), and database test.
  mariadb --no-defaults -uroot --socket="$sock" -e "
    create user if not exists 'root'@'127.0.0.1';
    grant all privileges on *.* to 'root'@'127.0.0.1' with grant option;
    create database if not exists test;"
}

# mariadb: MariaDB on 127.0.0.1:3306 (Debian's mariadb-server), with a database test.
# aliases: mysql
# shellcheck shell=bash disable=SC2154 # tls_dir and tls_made are lib.sh's
start_mariadb() {
  if ! answers 3306; then
    command -v mariadbd >/dev/null || install mariadb-server
    mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql --bind-address=127.0.0.1
    wait_for mariadb 3306 60
  fi
  mariadb -uroot -e 'create database if not exists test' 2>/dev/null ||
    mysql -uroot -e 'create database if not exists test'
}

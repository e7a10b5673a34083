#!/bin/bash
# The official mariadb image's contract, in short: on an empty data directory, initialise it
# with the root password (MARIADB_ROOT_PASSWORD, or MYSQL_ROOT_PASSWORD, or an empty/random one
# when asked), MARIADB_DATABASE, MARIADB_USER/MARIADB_PASSWORD (MYSQL_* accepted for each), run
# /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz|*.sql.xz|*.sql.zst once, then run the server.
set -eo pipefail

log() { printf '%s [Note] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*"; }
die() { printf '%s [ERROR] [Entrypoint]: %s\n' "$(date --rfc-3339=seconds)" "$*" >&2; exit 1; }

# MARIADB_X wins over MYSQL_X; either may come from a file (X_FILE), as Docker secrets do.
env_of() {
	local name="$1" value=""
	for var in "MARIADB_$name" "MYSQL_$name"; do
		local file_var="${var}_FILE"
		if [ -n "${!var:-}" ]; then value="${!var}"; break; fi
		if [ -n "${!file_var:-}" ]; then value="$(< "${!file_var}")"; break; fi
	done
	printf '%s' "$value"
}

if [ "${1:0:1}" = '-' ]; then
	set -- mariadbd "$@"
fi
case "$1" in mysqld|mariadbd) ;; *) exec "$@" ;; esac

if [ "$(id -u)" = '0' ]; then
	chown -R mysql:mysql /var/lib/mysql /run/mysqld 2>/dev/null || true
	exec setpriv --reuid=mysql --regid=mysql --init-groups "$BASH_SOURCE" "$@"
fi

DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

sql_escape() { sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/\\\\'/g" <<< "$1"; }

if [ ! -d "$DATADIR/mysql" ]; then
	ROOT_PASSWORD="$(env_of ROOT_PASSWORD)"
	ALLOW_EMPTY="$(env_of ALLOW_EMPTY_ROOT_PASSWORD)"; [ -n "$ALLOW_EMPTY" ] || ALLOW_EMPTY="$(env_of ALLOW_EMPTY_PASSWORD)"
	RANDOM_ROOT="$(env_of RANDOM_ROOT_PASSWORD)"
	if [ -z "$ROOT_PASSWORD" ] && [ -z "$ALLOW_EMPTY" ] && [ -z "$RANDOM_ROOT" ]; then
		die "Database is uninitialized and password option is not specified
	You need to specify one of MARIADB_ROOT_PASSWORD, MARIADB_ROOT_PASSWORD_HASH, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD and MARIADB_RANDOM_ROOT_PASSWORD"
	fi
	if [ -n "$RANDOM_ROOT" ]; then
		ROOT_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32)"
		log "GENERATED ROOT PASSWORD: $ROOT_PASSWORD"
	fi
	DATABASE="$(env_of DATABASE)"; USER="$(env_of USER)"; PASSWORD="$(env_of PASSWORD)"
	ROOT_HOST="${MARIADB_ROOT_HOST:-${MYSQL_ROOT_HOST:-%}}"

	log "Initializing database files"
	mariadb-install-db --datadir="$DATADIR" --rpm --auth-root-authentication-method=normal \
		--skip-test-db --skip-name-resolve --default-time-zone=SYSTEM > /dev/null
	log "Database files initialized"

	log "Starting temporary server"
	"$@" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" &
	server_pid=$!
	for i in $(seq 60); do
		if mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" -e 'SELECT 1' > /dev/null 2>&1; then break; fi
		kill -0 "$server_pid" 2>/dev/null || die "Unable to start server."
		sleep 0.5
	done
	log "Temporary server started."
	run_sql() { mariadb --protocol=socket -uroot -hlocalhost --socket="$SOCKET" --binary-mode "$@"; }

	HEALTH_PASSWORD="$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32)"
	{
		echo "SET @@SESSION.SQL_LOG_BIN=0;"
		echo "DELETE FROM mysql.user WHERE user NOT IN ('mysql.sys', 'mariadb.sys', 'root') OR host NOT IN ('localhost');"
		echo "SET PASSWORD FOR 'root'@'localhost'=PASSWORD('$(sql_escape "$ROOT_PASSWORD")');"
		if [ "$ROOT_HOST" != 'localhost' ]; then
			echo "CREATE USER 'root'@'$(sql_escape "$ROOT_HOST")' IDENTIFIED BY '$(sql_escape "$ROOT_PASSWORD")';"
			echo "GRANT ALL ON *.* TO 'root'@'$(sql_escape "$ROOT_HOST")' WITH GRANT OPTION;"
		fi
		echo "CREATE USER 'healthcheck'@'127.0.0.1' IDENTIFIED BY '$HEALTH_PASSWORD';"
		echo "CREATE USER 'healthcheck'@'::1' IDENTIFIED BY '$HEALTH_PASSWORD';"
		echo "CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$HEALTH_PASSWORD';"
		if [ -n "$DATABASE" ]; then
			echo "CREATE DATABASE IF NOT EXISTS \`$DATABASE\`;"
		fi
		if [ -n "$USER" ] && [ -n "$PASSWORD" ]; then
			echo "CREATE USER '$(sql_escape "$USER")'@'%' IDENTIFIED BY '$(sql_escape "$PASSWORD")';"
			if [ -n "$DATABASE" ]; then
				echo "GRANT ALL ON \`$DATABASE\`.* TO '$(sql_escape "$USER")'@'%';"
			fi
		fi
		echo "FLUSH PRIVILEGES;"
	} | run_sql
	printf '[mariadb-client]\nport=3306\nsocket=%s\nuser=healthcheck\npassword=%s\n' "$SOCKET" "$HEALTH_PASSWORD" \
		> "$DATADIR/.my-healthcheck.cnf"
	chmod 600 "$DATADIR/.my-healthcheck.cnf"

	run_client() { run_sql -p"$ROOT_PASSWORD" ${DATABASE:+"$DATABASE"}; }
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
			*.sh)     log "$0: running $f"; if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
			*.sql)    log "$0: running $f"; run_client < "$f" ;;
			*.sql.gz) log "$0: running $f"; gunzip -c "$f" | run_client ;;
			*.sql.xz) log "$0: running $f"; xzcat "$f" | run_client ;;
			*.sql.zst) log "$0: running $f"; zstd -dc "$f" | run_client ;;
			*.sql.bz2) log "$0: running $f"; bunzip2 -c "$f" | run_client ;;
			*) [ -e "$f" ] && log "$0: ignoring $f" ;;
		esac
	done

	log "Stopping temporary server"
	kill "$server_pid"; wait "$server_pid" || true
	log "Temporary server stopped"
	log "MariaDB init process done. Ready for start up."
fi

exec "$@"

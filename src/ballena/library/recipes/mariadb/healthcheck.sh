#!/bin/bash
# The official mariadb image's healthcheck.sh, for its common tests: --connect (the server
# accepts a TCP connection) and --innodb_initialized (InnoDB is up). Exit 0 when all pass.
# As there, it logs in as the healthcheck user the entrypoint made (.my-healthcheck.cnf).
set -eo pipefail
CNF=/var/lib/mysql/.my-healthcheck.cnf
client() { mariadb --defaults-extra-file="$CNF" "$@"; }
[ $# -gt 0 ] || set -- --connect
for test in "$@"; do
	case "$test" in
		--connect) client -h127.0.0.1 --protocol=tcp -e 'SELECT 1' > /dev/null ;;
		--innodb_initialized)
			[ "$(client -N -B -e "SELECT 1 FROM information_schema.ENGINES WHERE engine='innodb' AND support IN ('YES','DEFAULT','ENABLED')")" = 1 ] ;;
		--su-mysql|--su=*|--defaults-file=*|--no-defaults|--datadir=*) ;;
		*) echo "healthcheck.sh: unsupported test $test" >&2; exit 2 ;;
	esac
done

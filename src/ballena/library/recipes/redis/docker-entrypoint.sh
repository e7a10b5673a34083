#!/bin/sh
# The official image's contract: a first argument that is an option, or a .conf file, means
# "redis-server with these"; redis-server runs as the redis user, owning its data; and with no
# configuration file, protected mode is off (a container is reached from outside by design).
set -e

if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
	set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ] && [ "$(id -u)" = '0' ]; then
	find . \! -user redis -exec chown redis '{}' + 2>/dev/null || true
	exec setpriv --reuid=redis --regid=redis --init-groups "$0" "$@"
fi

if [ "$1" = 'redis-server' ]; then
	case " $* " in
		*' --protected-mode '*) ;;
		*) shift; set -- redis-server "$@" --protected-mode no ;;
	esac
fi

umask 0077
exec "$@"

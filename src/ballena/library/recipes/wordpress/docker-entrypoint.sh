#!/bin/sh
# As the official image: an empty /var/www/html gets WordPress (Debian's files, its symlinks
# resolved), and a wp-config.php that reads the WORDPRESS_* variables.
set -e
case "$1" in apache2*|php-fpm)
	if [ ! -e /var/www/html/index.php ] && [ ! -e /var/www/html/wp-includes/version.php ]; then
		echo >&2 "WordPress not found in /var/www/html - copying now..."
		cp -aL /usr/share/wordpress/. /var/www/html/
		rm -f /var/www/html/wp-config.php
		cp /usr/share/wordpress/wp-config-docker.php /var/www/html/wp-config.php
		chown -R www-data:www-data /var/www/html
		echo >&2 "Complete! WordPress has been successfully copied to /var/www/html"
	fi
;; esac
exec "$@"

#!/bin/sh
# A blowfish secret of this container's own (cookie authentication needs one), then the command.
set -e
if [ ! -s /var/lib/phpmyadmin/blowfish_secret.inc.php ]; then
	secret="$(head -c 24 /dev/urandom | base64 | tr -d '/+=' | head -c 32)"
	printf "<?php\n\$cfg['blowfish_secret'] = '%s';\n" "$secret" > /var/lib/phpmyadmin/blowfish_secret.inc.php
	chown www-data /var/lib/phpmyadmin/blowfish_secret.inc.php
fi
exec "$@"

<?php
/* The official phpmyadmin image's configuration by environment: PMA_HOST (or PMA_HOSTS, a
 * comma list), PMA_PORT(S), PMA_VERBOSE(S), PMA_USER/PMA_PASSWORD (config authentication),
 * PMA_ARBITRARY=1 (any server typed at login), PMA_ABSOLUTE_URI. */
require '/var/lib/phpmyadmin/blowfish_secret.inc.php';

$env = fn(string $name, ?string $default = null) => (getenv($name) !== false && getenv($name) !== '') ? getenv($name) : $default;

$hosts = $env('PMA_HOSTS') !== null ? array_map('trim', explode(',', $env('PMA_HOSTS'))) : [$env('PMA_HOST', 'db')];
$ports = $env('PMA_PORTS') !== null ? array_map('trim', explode(',', $env('PMA_PORTS'))) : [$env('PMA_PORT', '3306')];
$verboses = $env('PMA_VERBOSES') !== null ? array_map('trim', explode(',', $env('PMA_VERBOSES'))) : [$env('PMA_VERBOSE', '')];

$i = 0;
foreach ($hosts as $n => $host) {
    $i++;
    $cfg['Servers'][$i]['host'] = $host;
    $cfg['Servers'][$i]['port'] = $ports[$n] ?? $ports[0];
    $cfg['Servers'][$i]['verbose'] = $verboses[$n] ?? '';
    $cfg['Servers'][$i]['compress'] = false;
    $cfg['Servers'][$i]['AllowNoPassword'] = true;
    if ($env('PMA_USER') !== null) {
        $cfg['Servers'][$i]['auth_type'] = 'config';
        $cfg['Servers'][$i]['user'] = $env('PMA_USER');
        $cfg['Servers'][$i]['password'] = $env('PMA_PASSWORD', '');
    } else {
        $cfg['Servers'][$i]['auth_type'] = 'cookie';
    }
}
$cfg['AllowArbitraryServer'] = $env('PMA_ARBITRARY') === '1';
if ($env('PMA_ABSOLUTE_URI') !== null) {
    $cfg['PmaAbsoluteUri'] = $env('PMA_ABSOLUTE_URI');
}
$cfg['UploadDir'] = '';
$cfg['SaveDir'] = '';
$cfg['TempDir'] = '/var/lib/phpmyadmin/tmp';

"""iSCSI target commands: global options, portal groups, initiator groups,
target nodes, CHAP auth groups, connections and statistics.

The command lines are SPDK's: lists are given as one quoted, whitespace
separated argument ('Malloc0:0 Malloc1:1', '1:1 2:1', '127.0.0.1:3260
127.0.0.1:3261'), CHAP secrets as 'user:u secret:s muser:mu msecret:ms,...'.
They are turned into the JSON arrays of objects the methods take before
sending; a list that cannot be read that way is refused here (exit 1) with the
item that is wrong, nothing is sent.
"""

import sys

from . import JSON, QUIET, UsageError, add_command, flag

SECRET_KEYS = ('user', 'secret', 'muser', 'msecret')


def _words(text, what):
    words = text.split()
    if not words:
        raise UsageError('%s: the list is empty' % what)
    return words


def _int(text, what, item):
    try:
        return int(text, 10)
    except ValueError:
        raise UsageError("%s: '%s' in '%s' is not an integer" % (what, text, item)) from None


def _pairs(text, what, form):
    """'a:b c:d' -> [('a', 'b'), ('c', 'd')]; the last ':' splits (names may not hold one)."""
    out = []
    for item in _words(text, what):
        left, sep, right = item.rpartition(':')
        if not sep or not left or not right:
            raise UsageError("%s: '%s' is not %s" % (what, item, form))
        out.append((left, right, item))
    return out


def _pg_ig_maps(text):
    return [{'pg_tag': _int(pg, 'pg_ig_maps', item), 'ig_tag': _int(ig, 'pg_ig_maps', item)}
            for pg, ig, item in _pairs(text, 'pg_ig_maps', 'PG_TAG:IG_TAG (e.g. 1:1)')]


def _luns(text):
    return [{'bdev_name': bdev, 'lun_id': _int(lun, 'luns', item)}
            for bdev, lun, item in _pairs(text, 'luns', 'BDEV:LUN_ID (e.g. Malloc0:0)')]


def _portals(text):
    """'127.0.0.1:3260 [::1]:3261' -> [{host, port}], port kept a string as in SPDK.

    SPDK once accepted HOST:PORT@CPUMASK; the mask is ignored with a warning, as
    SPDK does now.
    """
    out = []
    for host, port, item in _pairs(text, 'portals', 'HOST:PORT (e.g. 127.0.0.1:3260)'):
        port, at, _mask = port.partition('@')
        if at:
            print("WARNING: portal '%s': a CPU mask is no longer supported; ignoring it"
                  % item, file=sys.stderr)
        if not port:
            raise UsageError("portals: '%s' has no port" % item)
        out.append({'host': host, 'port': port})
    return out


def _secrets(text):
    """'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 secret:s2' -> [{...}, {...}].

    Keys are passed as written (the daemon names a wrong one); a value may hold ':'.
    """
    out = []
    for group in text.split(','):
        secret = {}
        for item in _words(group, 'secrets'):
            key, sep, value = item.partition(':')
            if not sep or not key:
                raise UsageError("secrets: '%s' is not KEY:VALUE (keys: %s)"
                                 % (item, ', '.join(SECRET_KEYS)))
            if key in secret:
                raise UsageError("secrets: '%s' given twice in '%s'" % (key, group.strip()))
            secret[key] = value
        out.append(secret)
    return out


def _build_target_node(params):
    params['luns'] = _luns(params['luns'])
    params['pg_ig_maps'] = _pg_ig_maps(params['pg_ig_maps'])
    return params


def _build_maps(params):
    params['pg_ig_maps'] = _pg_ig_maps(params['pg_ig_maps'])
    return params


def _build_portal_group(params):
    params['portals'] = _portals(params['portals'])
    return params


def _build_initiator_group(params):
    for key in ('initiators', 'netmasks'):
        if key in params:
            params[key] = _words(params[key], key)
    return params


def _build_initiator_change(params):
    # As in SPDK: an empty -n/-m list is the same as leaving it out.
    for key in ('initiators', 'netmasks'):
        if key in params:
            words = params[key].split()
            if words:
                params[key] = words
            else:
                del params[key]
    return params


def _build_auth_group(params):
    if 'secrets' in params:
        params['secrets'] = _secrets(params['secrets'])
    return params


def _chap_flags(p, what):
    p.add_argument('-g', '--chap-group', type=int,
                   help='CHAP auth group tag for %s (the group must exist)' % what)
    flag(p, '-d', '--disable-chap', help='no CHAP for %s (not with -r)' % what)
    flag(p, '-r', '--require-chap', help='CHAP required for %s (not with -d)' % what)
    flag(p, '-m', '--mutual-chap', help='mutual (bidirectional) CHAP for %s' % what)


def add_parser(subparsers):
    _globals(subparsers)
    _auth_groups(subparsers)
    _portal_groups(subparsers)
    _initiator_groups(subparsers)
    _target_nodes(subparsers)
    _status(subparsers)


def _globals(subparsers):
    p = add_command(subparsers, 'iscsi_set_options', 'Set iSCSI target options (at '
                    'start-up, before framework_start_init; once)', output=QUIET)
    p.add_argument('-f', '--auth-file', help='CHAP secrets file')
    p.add_argument('-b', '--node-base', help='prefix of target node names given without '
                   'one (default iqn.2016-06.io.spdk)')
    p.add_argument('-o', '--nop-timeout', type=int,
                   help='seconds to wait for the answer to a NOP-In')
    p.add_argument('-n', '--nop-in-interval', type=int,
                   help='seconds between the NOP-In pings the target sends')
    _chap_flags(p, 'discovery sessions')
    p.add_argument('-a', '--max-sessions', type=int, help='most sessions at once')
    p.add_argument('-q', '--max-queue-depth', type=int,
                   help='most outstanding commands per session (target nodes may ask less)')
    p.add_argument('-c', '--max-connections-per-session', type=int,
                   help='MaxConnections offered in login')
    p.add_argument('-w', '--default-time2wait', type=int, help='DefaultTime2Wait')
    p.add_argument('-v', '--default-time2retain', type=int, help='DefaultTime2Retain')
    p.add_argument('-s', '--first-burst-length', type=int, help='FirstBurstLength (bytes)')
    # Osprey's own (SPDK fixes these): long options only, so no SPDK letter is taken.
    p.add_argument('--max-burst-length', type=int, help='MaxBurstLength (bytes)')
    p.add_argument('--max-recv-data-segment-length', type=int,
                   help='MaxRecvDataSegmentLength the target declares (bytes)')
    flag(p, '-i', '--immediate-data', help='ImmediateData=Yes')
    p.add_argument('-l', '--error-recovery-level', type=int, help='ErrorRecoveryLevel')
    flag(p, '-p', '--allow-duplicated-isid', help='allow sessions with the same ISID')
    p.add_argument('-x', '--max-large-datain-per-connection', type=int,
                   help='most outstanding split reads per connection')
    p.add_argument('-k', '--max-r2t-per-connection', type=int,
                   help='most outstanding R2Ts per connection')
    p.add_argument('-u', '--pdu-pool-size', type=int, help='PDUs in the pool')
    p.add_argument('-j', '--immediate-data-pool-size', type=int,
                   help='immediate data buffers in the pool')
    p.add_argument('-z', '--data-out-pool-size', type=int,
                   help='Data-Out buffers in the pool')

    add_command(subparsers, 'iscsi_get_options', 'Show the iSCSI target options')

    p = add_command(subparsers, 'iscsi_set_discovery_auth', 'Set CHAP for discovery '
                    'sessions', output=QUIET)
    _chap_flags(p, 'discovery sessions')

    add_command(subparsers, 'iscsi_get_discovery_auth', 'Show the CHAP settings of '
                'discovery sessions (Osprey; SPDK shows them in iscsi_get_options)')


def _auth_groups(subparsers):
    p = add_command(subparsers, 'iscsi_create_auth_group', 'Create a CHAP auth group',
                    output=QUIET, build=_build_auth_group)
    p.add_argument('tag', type=int, help='auth group tag (unique, > 0)')
    p.add_argument('-c', '--secrets', help="comma-separated secrets, each "
                   "'user:NAME secret:SECRET [muser:NAME msecret:SECRET]', e.g. "
                   "'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 secret:s2'")

    p = add_command(subparsers, 'iscsi_delete_auth_group', 'Delete a CHAP auth group',
                    output=QUIET)
    p.add_argument('tag', type=int, help='auth group tag')

    p = add_command(subparsers, 'iscsi_auth_group_add_secret', 'Add a secret to a CHAP '
                    'auth group', output=QUIET)
    p.add_argument('tag', type=int, help='auth group tag')
    p.add_argument('-u', '--user', required=True, help='CHAP name of the initiator')
    p.add_argument('-s', '--secret', required=True, help='CHAP secret of the initiator')
    p.add_argument('-m', '--muser', help='CHAP name of the target (mutual CHAP)')
    p.add_argument('-r', '--msecret', help='CHAP secret of the target (mutual CHAP)')

    p = add_command(subparsers, 'iscsi_auth_group_remove_secret', 'Remove a secret from a '
                    'CHAP auth group', output=QUIET)
    p.add_argument('tag', type=int, help='auth group tag')
    p.add_argument('-u', '--user', required=True, help='CHAP name of the secret to remove')

    add_command(subparsers, 'iscsi_get_auth_groups', 'List the CHAP auth groups')


def _portal_groups(subparsers):
    p = add_command(subparsers, 'iscsi_create_portal_group', 'Create a portal group (the '
                    'addresses the target listens on)', output=QUIET, build=_build_portal_group)
    p.add_argument('tag', type=int, help='portal group tag (unique, 1-65535)')
    p.add_argument('portals', help="whitespace-separated HOST:PORT list in one argument, "
                   "e.g. '127.0.0.1:3260 [::1]:3260'")
    flag(p, '-p', '--private', help='not reported by discovery (a login redirection target)')
    flag(p, '-w', '--wait', help='do not listen until iscsi_start_portal_group')

    p = add_command(subparsers, 'iscsi_start_portal_group', 'Start listening on the '
                    'portals of a group created with --wait', output=QUIET)
    p.add_argument('tag', type=int, help='portal group tag')

    p = add_command(subparsers, 'iscsi_delete_portal_group', 'Delete a portal group',
                    output=QUIET)
    p.add_argument('tag', type=int, help='portal group tag')

    p = add_command(subparsers, 'iscsi_portal_group_set_auth', 'Set CHAP for discovery '
                    'sessions on one portal group (overrides iscsi_set_discovery_auth)',
                    output=QUIET)
    p.add_argument('tag', type=int, help='portal group tag')
    _chap_flags(p, 'discovery sessions on this portal group')

    add_command(subparsers, 'iscsi_get_portal_groups', 'List the portal groups')


def _initiator_groups(subparsers):
    p = add_command(subparsers, 'iscsi_create_initiator_group', 'Create an initiator group '
                    '(who may log in)', output=QUIET, build=_build_initiator_group)
    p.add_argument('tag', type=int, help='initiator group tag (unique, > 0)')
    p.add_argument('initiators', help="whitespace-separated initiator names in one "
                   "argument, e.g. 'ANY' or 'iqn.2016-06.io.spdk:host1 "
                   "iqn.2016-06.io.spdk:host2'")
    p.add_argument('netmasks', help="whitespace-separated netmasks in one argument, e.g. "
                   "'ANY' or '127.0.0.1/32 192.168.1.0/24'")

    for verb, what in (('add', 'Add initiator names and/or netmasks to'),
                       ('remove', 'Remove initiator names and/or netmasks from')):
        p = add_command(subparsers, 'iscsi_initiator_group_%s_initiators' % verb,
                        what + ' an initiator group', output=QUIET,
                        build=_build_initiator_change)
        p.add_argument('tag', type=int, help='initiator group tag')
        p.add_argument('-n', dest='initiators', metavar='INITIATORS',
                       help="whitespace-separated initiator names in one argument")
        p.add_argument('-m', dest='netmasks', metavar='NETMASKS',
                       help="whitespace-separated netmasks in one argument")

    p = add_command(subparsers, 'iscsi_delete_initiator_group', 'Delete an initiator group',
                    output=QUIET)
    p.add_argument('tag', type=int, help='initiator group tag')

    add_command(subparsers, 'iscsi_get_initiator_groups', 'List the initiator groups')


def _target_nodes(subparsers):
    p = add_command(subparsers, 'iscsi_create_target_node', 'Create a target node (its LUNs '
                    'and who reaches it through which portals)', output=QUIET,
                    build=_build_target_node)
    p.add_argument('name', help='target name: iqn./eui./naa. name, or a short name the '
                   'node base is put before (disk1 -> iqn.2016-06.io.spdk:disk1)')
    p.add_argument('alias_name', help='TargetAlias')
    p.add_argument('luns', help="whitespace-separated BDEV:LUN_ID pairs in one argument, "
                   "e.g. 'Malloc0:0 Malloc1:1'")
    p.add_argument('pg_ig_maps', help="whitespace-separated PORTAL_GROUP:INITIATOR_GROUP "
                   "tag pairs in one argument, e.g. '1:1 2:1'")
    p.add_argument('queue_depth', type=int, help='commands outstanding per session')
    _chap_flags(p, 'this target')
    flag(p, '-H', '--header-digest', help='require HeaderDigest=CRC32C')
    flag(p, '-D', '--data-digest', help='require DataDigest=CRC32C')

    p = add_command(subparsers, 'iscsi_delete_target_node', 'Delete a target node '
                    '(its sessions are closed)', output=QUIET)
    p.add_argument('name', help='target name, e.g. iqn.2016-06.io.spdk:disk1')

    p = add_command(subparsers, 'iscsi_target_node_add_lun', 'Add a LUN to a target node',
                    output=QUIET)
    p.add_argument('name', help='target name')
    p.add_argument('bdev_name', help='bdev that backs the LUN')
    p.add_argument('-i', dest='lun_id', type=int, metavar='LUN_ID',
                   help='LUN id (default: the lowest free one)')

    for verb, what in (('add', 'Add portal group to initiator group maps to'),
                       ('remove', 'Remove portal group to initiator group maps from')):
        p = add_command(subparsers, 'iscsi_target_node_%s_pg_ig_maps' % verb,
                        what + ' a target node', output=QUIET, build=_build_maps)
        p.add_argument('name', help='target name')
        p.add_argument('pg_ig_maps', help="whitespace-separated PORTAL_GROUP:INITIATOR_GROUP "
                       "tag pairs in one argument, e.g. '1:1 2:1'")

    p = add_command(subparsers, 'iscsi_target_node_set_auth', 'Set CHAP for a target node',
                    output=QUIET)
    p.add_argument('name', help='target name')
    _chap_flags(p, 'this target')

    p = add_command(subparsers, 'iscsi_target_node_set_redirect', 'Redirect logins to a '
                    'target through a public portal group to another portal (no -a/-p: '
                    'clear it)', output=QUIET)
    p.add_argument('name', help='target name')
    p.add_argument('pg_tag', type=int, help='portal group tag')
    p.add_argument('-a', '--redirect-host', help='numeric IP address to redirect to')
    p.add_argument('-p', '--redirect-port', help='TCP port to redirect to')

    p = add_command(subparsers, 'iscsi_target_node_request_logout', 'Ask the initiators '
                    'connected to a target (through one portal group, or all) to log out',
                    output=QUIET)
    p.add_argument('name', help='target name')
    p.add_argument('-t', '--pg-tag', type=int, help='only connections through this group')

    add_command(subparsers, 'iscsi_get_target_nodes', 'List the target nodes')


def _status(subparsers):
    add_command(subparsers, 'iscsi_get_connections', 'List the iSCSI connections',
                output=JSON)
    add_command(subparsers, 'iscsi_get_stats', 'Count the iSCSI connections by state',
                output=JSON)
    add_command(subparsers, 'scsi_get_devices', 'List the SCSI devices (one per target '
                'node)', output=JSON)

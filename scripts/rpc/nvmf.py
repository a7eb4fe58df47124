"""NVMe-oF target commands: transports, subsystems, listeners, namespaces, hosts."""

from . import JSON, QUIET, add_command, flag, group

DISCOVERY_NQN = 'nqn.2014-08.org.nvmexpress.discovery'
ADDRESS_FIELDS = ['trtype', 'adrfam', 'traddr', 'trsvcid']
NAMESPACE_FIELDS = ['bdev_name', 'ptpl_file', 'nsid', 'nguid', 'eui64', 'uuid', 'anagrpid',
                    'no_auto_visible']


def _listener(params):
    """{nqn, trtype, traddr, ...} -> {nqn, listen_address: {trtype, traddr, ...}}."""
    if params.get('nqn') == 'discovery':
        params['nqn'] = DISCOVERY_NQN
    return group(params, 'listen_address', ADDRESS_FIELDS)


def _namespace(params):
    return group(params, 'namespace', NAMESPACE_FIELDS)


def _tgt_name(p, *names):
    p.add_argument(*(names or ('-t', '--tgt-name')), dest='tgt_name',
                   help='name of the NVMe-oF target (default: the only one)')


def add_parser(subparsers):
    _transports(subparsers)
    _subsystems(subparsers)


def _transports(subparsers):
    p = add_command(subparsers, 'nvmf_create_transport', 'Create an NVMe-oF transport '
                    '(options not given keep the transport defaults)', output=QUIET)
    p.add_argument('-t', '--trtype', required=True, help='TCP or RDMA')
    _tgt_name(p, '-g', '--tgt-name')
    p.add_argument('-q', '--max-queue-depth', type=int, help='entries per I/O queue')
    p.add_argument('-m', '--max-io-qpairs-per-ctrlr', type=int,
                   help='I/O queue pairs per controller')
    p.add_argument('-c', '--in-capsule-data-size', type=int,
                   help='in-capsule data size in bytes')
    p.add_argument('-i', '--max-io-size', type=int, help='largest I/O in bytes')
    p.add_argument('-u', '--io-unit-size', type=int, help='I/O unit (buffer) size in bytes')
    p.add_argument('-a', '--max-aq-depth', type=int, help='entries of the admin queue')
    p.add_argument('-n', '--num-shared-buffers', type=int,
                   help='data buffers in the shared pool')
    p.add_argument('-b', '--buf-cache-size', type=int,
                   help='data buffers reserved per poll group')
    flag(p, '-z', '--zcopy', help='zero-copy I/O where the bdev supports it')
    flag(p, '-o', '--c2h-success', value=False,
         help='TCP: disable the C2H success optimization')
    flag(p, '-f', '--dif-insert-or-strip', help='TCP: insert/strip DIF on the target')
    p.add_argument('-y', '--sock-priority', type=int, help='TCP: socket priority')
    p.add_argument('-e', '--control-msg-num', type=int,
                   help='TCP: control messages per poll group')
    p.add_argument('-x', '--abort-timeout-sec', type=int, help='abort execution timeout')
    p.add_argument('--acceptor-poll-rate', type=int,
                   help='how often to poll for new connections, in microseconds')
    p.add_argument('-d', '--num-cqe', type=int, help='RDMA: completion queue entries')
    p.add_argument('-s', '--max-srq-depth', type=int, help='RDMA: shared receive queue depth')
    flag(p, '-r', '--no-srq', help='RDMA: no shared receive queue')
    p.add_argument('-l', '--acceptor-backlog', type=int, help='RDMA: pending connections')
    flag(p, '-w', '--no-wr-batching', help='RDMA: do not batch work requests')

    p = add_command(subparsers, 'nvmf_get_transports', 'List transports, or show one')
    p.add_argument('--trtype', help='transport type')
    _tgt_name(p)

    p = add_command(subparsers, 'nvmf_get_stats', 'Show the statistics of the poll groups')
    _tgt_name(p)


def _subsystems(subparsers):
    p = add_command(subparsers, 'nvmf_create_subsystem', 'Create an NVM subsystem',
                    output=QUIET)
    p.add_argument('nqn', help='subsystem NQN')
    _tgt_name(p)
    p.add_argument('-s', '--serial-number', help='serial number (e.g. OSP0001)')
    p.add_argument('-d', '--model-number', help='model number')
    flag(p, '-a', '--allow-any-host', help='let any host connect (no host list)')
    p.add_argument('-m', '--max-namespaces', type=int, help='namespace limit')
    flag(p, '-r', '--ana-reporting', help='enable ANA reporting')
    p.add_argument('-i', '--min_cntlid', dest='min_cntlid', type=int,
                   help='lowest controller ID')
    p.add_argument('-I', '--max_cntlid', dest='max_cntlid', type=int,
                   help='highest controller ID')

    p = add_command(subparsers, 'nvmf_delete_subsystem', 'Delete an NVM subsystem',
                    output=QUIET)
    p.add_argument('nqn', metavar='subsystem_nqn', help='subsystem NQN')
    _tgt_name(p)

    p = add_command(subparsers, 'nvmf_get_subsystems', 'List subsystems, or show one')
    p.add_argument('nqn', nargs='?', help='subsystem NQN')
    _tgt_name(p)

    for verb, what in (('add', 'Add a listener (address the target accepts connections '
                               'on) to'),
                       ('remove', 'Remove a listener from')):
        p = add_command(subparsers, 'nvmf_subsystem_%s_listener' % verb,
                        "%s a subsystem ('discovery' = the discovery subsystem)" % what,
                        output=QUIET, build=_listener)
        p.add_argument('nqn', help="subsystem NQN, or 'discovery'")
        p.add_argument('-t', '--trtype', required=True, help='tcp or rdma')
        p.add_argument('-a', '--traddr', required=True, help='IP address')
        p.add_argument('-f', '--adrfam', help='ipv4 or ipv6')
        p.add_argument('-s', '--trsvcid', help='port, e.g. 4420')
        _tgt_name(p, '-p', '--tgt-name')

    p = add_command(subparsers, 'nvmf_subsystem_add_ns', 'Add a namespace backed by a bdev '
                    'to a subsystem', output=QUIET, build=_namespace)
    p.add_argument('nqn', help='subsystem NQN')
    p.add_argument('bdev_name', help='bdev that backs the namespace')
    _tgt_name(p)
    p.add_argument('-n', '--nsid', type=int, help='namespace ID (default: lowest free)')
    p.add_argument('-u', '--uuid', help='namespace UUID')
    p.add_argument('-g', '--nguid', help='namespace globally unique identifier (32 hex digits)')
    p.add_argument('-e', '--eui64', help='namespace EUI-64 (16 hex digits)')
    p.add_argument('-a', '--anagrpid', type=int, help='ANA group ID')
    p.add_argument('-p', '--ptpl-file', help='file that persists reservations')
    flag(p, '-i', '--no-auto-visible', help='hide from controllers until nvmf_ns_add_host')

    p = add_command(subparsers, 'nvmf_subsystem_remove_ns', 'Remove a namespace from a '
                    'subsystem', output=QUIET)
    p.add_argument('nqn', help='subsystem NQN')
    p.add_argument('nsid', type=int, help='namespace ID')
    _tgt_name(p)

    for verb, what in (('add', 'Allow a host NQN to connect to'),
                       ('remove', 'Remove a host NQN from')):
        p = add_command(subparsers, 'nvmf_subsystem_%s_host' % verb, what + ' a subsystem',
                        output=QUIET)
        p.add_argument('nqn', help='subsystem NQN')
        p.add_argument('host', help='host NQN')
        _tgt_name(p)

    p = add_command(subparsers, 'nvmf_subsystem_allow_any_host', 'Let any host connect to a '
                    'subsystem (-e, the default) or only its listed hosts (-d)', output=QUIET)
    p.add_argument('nqn', help='subsystem NQN')
    g = p.add_mutually_exclusive_group()
    g.add_argument('-e', '--enable', dest='allow_any_host', action='store_const', const=True,
                   help='allow any host (default)')
    g.add_argument('-d', '--disable', dest='allow_any_host', action='store_const',
                   const=False, help='allow only the listed hosts')
    p.set_defaults(allow_any_host=True)
    _tgt_name(p)

    for what, doc in (('controllers', 'controllers'), ('qpairs', 'queue pairs'),
                      ('listeners', 'listeners')):
        p = add_command(subparsers, 'nvmf_subsystem_get_' + what,
                        'Show the %s of a subsystem' % doc, output=JSON)
        p.add_argument('nqn', help='subsystem NQN')
        _tgt_name(p)

"""Application framework commands: RPC introspection, subsystem start-up,
reactors and threads, and the JSON configuration (save_config/load_config)."""

import json
import sys

from . import QUIET, TEXT, UsageError, add_command, flag
from .client import DRY_RUN, RpcClientError

START_INIT = 'framework_start_init'


def add_parser(subparsers):
    p = add_command(subparsers, 'rpc_get_methods', 'List the RPC methods the daemon supports')
    flag(p, '-c', '--current', help='only the methods callable in the current state '
         '(start-up or running)')
    flag(p, '-i', '--include-aliases', help='also list deprecated alias names')

    add_command(subparsers, 'spdk_get_version', 'Show the daemon version', output=TEXT)

    add_command(subparsers, START_INIT, 'Start subsystem initialization (daemon started '
                'with --wait-for-rpc)', output=QUIET)
    add_command(subparsers, 'framework_wait_init', 'Wait until subsystem initialization '
                'has finished', output=QUIET)
    add_command(subparsers, 'framework_get_subsystems',
                'List the subsystems in initialization order with their dependencies')
    p = add_command(subparsers, 'framework_get_config', 'Show the configuration of one subsystem')
    p.add_argument('name', help='subsystem name, e.g. bdev')
    add_command(subparsers, 'framework_get_reactors', 'Show the reactors and their threads')
    add_command(subparsers, 'thread_get_stats', 'Show the statistics of every thread')
    add_command(subparsers, 'thread_get_pollers', 'Show the pollers of every thread')

    p = add_command(subparsers, 'thread_set_cpumask', 'Move a thread to a reactor of a core mask',
                    output=QUIET)
    p.add_argument('-i', '--id', dest='id', type=int, required=True, help='thread id')
    p.add_argument('-m', '--cpumask', dest='cpumask', required=True,
                   help='core mask (0x2) or list ([1])')

    p = add_command(subparsers, 'spdk_kill_instance', 'Send a signal to the daemon',
                    output=QUIET)
    p.add_argument('sig_name', help='SIGINT, SIGTERM, SIGQUIT, SIGHUP or SIGKILL')

    p = add_command(subparsers, 'save_config', 'Print the live configuration of every '
                    'subsystem as a JSON config file', func=save_config)
    p.add_argument('-i', '--indent', dest='_indent', metavar='N', type=int, default=2,
                   help='indentation; a negative value prints compact JSON (default 2)')
    p.add_argument('-o', '--filename', dest='_filename', metavar='FILE',
                   help='write to this file instead of standard output')
    p.add_argument('-s', '--subsystems', dest='_subsystems', metavar='LIST',
                   help='comma-separated subsystems to save (with their dependencies); '
                   'default all')

    p = add_command(subparsers, 'load_config', 'Apply a JSON config file (as written by '
                    'save_config) to the daemon', func=load_config)
    p.add_argument('-j', '--json-conf', dest='_json_conf', metavar='FILE', default='-',
                   help="config file to read; '-' (the default) reads standard input")
    p.add_argument('-i', '--include-aliases', dest='_include_aliases', action='store_true',
                   help='accept deprecated alias method names')


# save_config ---------------------------------------------------------------

def _with_dependencies(subsystems, wanted):
    deps = {s['subsystem']: s.get('depends_on') or [] for s in subsystems}
    keep, todo = set(), list(wanted)
    while todo:
        name = todo.pop()
        if name not in deps:
            raise UsageError('save_config: unknown subsystem %r (known: %s)'
                             % (name, ', '.join(deps) or 'none'))
        if name not in keep:
            keep.add(name)
            todo.extend(deps[name])
    return keep


def save_config(args):
    client = args._client
    subsystems = client.call('framework_get_subsystems')
    if subsystems is DRY_RUN:
        return
    if not isinstance(subsystems, list):
        raise RpcClientError('framework_get_subsystems returned %s, expected a list'
                             % json.dumps(subsystems))
    names = [s['subsystem'] for s in subsystems]
    if args._subsystems:
        keep = _with_dependencies(subsystems, [n.strip() for n in args._subsystems.split(',')
                                               if n.strip()])
        names = [n for n in names if n in keep]
    config = {'subsystems': [{'subsystem': n,
                              'config': client.call('framework_get_config', {'name': n})}
                             for n in names]}
    indent = None if args._indent < 0 else args._indent
    text = json.dumps(config, indent=indent) + '\n'
    if args._filename:
        try:
            with open(args._filename, 'w') as f:
                f.write(text)
        except OSError as e:
            raise RpcClientError('save_config: cannot write %s: %s'
                                 % (args._filename, e.strerror or e))
    else:
        sys.stdout.write(text)


# load_config ---------------------------------------------------------------

def read_config(path):
    """Parse a JSON config file ('-' = stdin) into its list of subsystems."""
    try:
        if path == '-':
            config = json.load(sys.stdin)
        else:
            with open(path) as f:
                config = json.load(f)
    except OSError as e:
        raise RpcClientError('load_config: cannot read %s: %s' % (path, e.strerror or e))
    except ValueError as e:
        raise RpcClientError('load_config: %s is not valid JSON: %s'
                             % ('standard input' if path == '-' else path, e))
    subsystems = config.get('subsystems') if isinstance(config, dict) else None
    if not isinstance(subsystems, list):
        raise RpcClientError('load_config: the config must be an object with a '
                             '"subsystems" array')
    for s in subsystems:
        if not _valid_subsystem(s):
            raise RpcClientError('load_config: each subsystem needs "config": a list of '
                                 '{"method": ..., "params": {...}} objects; bad entry: %s'
                                 % json.dumps(s)[:200])
    return subsystems


def _valid_subsystem(s):
    if not isinstance(s, dict):
        return False
    entries = s.get('config')
    if entries is None:
        return True
    return isinstance(entries, list) and all(
        isinstance(e, dict) and isinstance(e.get('method'), str)
        and isinstance(e.get('params', {}), (dict, type(None))) for e in entries)


def load_config(args):
    """Replay a config file, method by method, in the daemon's allowed order.

    Like SPDK's rpc.py: ask which methods the daemon has (rpc_get_methods) and
    which it accepts in its current state (rpc_get_methods --current).  A
    daemon started with --wait-for-rpc is in the start-up state: the entries
    allowed then (options such as bdev_set_options) are sent first, then
    framework_start_init, then, now that the state is "running", the rest.
    Each round sends, in file order, every remaining entry allowed in the
    current state; it stops when a round sends nothing.  Entries whose method
    the daemon does not have at all are skipped with a warning.
    """
    client = args._client
    pending = [[e for e in (s.get('config') or [])] for s in read_config(args._json_conf)]
    pending = [entries for entries in pending if entries]

    if client.dry_run:
        for entries in pending:
            for e in entries:
                client.call(e['method'], e.get('params'))
        return

    alias = {'include_aliases': True} if args._include_aliases else None
    known = set(client.call('rpc_get_methods', alias) or [])
    for entries in pending:
        for e in [e for e in entries if e['method'] not in known]:
            print('load_config: skipping %s: the daemon has no such method' % e['method'],
                  file=sys.stderr)
            entries.remove(e)
    pending = [entries for entries in pending if entries]

    while True:
        current = set(client.call('rpc_get_methods',
                                  dict(alias or {}, current=True)) or [])
        progress = False
        for entries in pending:
            for e in [e for e in entries if e['method'] in current]:
                client.call(e['method'], e.get('params'))
                entries.remove(e)
                progress = True
        pending = [entries for entries in pending if entries]
        if START_INIT in current:
            client.call(START_INIT)
            progress = True
        if not pending or not progress:
            break

    if pending:
        left = ', '.join(e['method'] for entries in pending for e in entries)
        print('load_config: some entries were not applied because the daemon is past the '
              'state that accepts them: %s' % left, file=sys.stderr)

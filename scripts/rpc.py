#!/usr/bin/env python3
"""Command-line client for the JSON-RPC socket of the Osprey daemons.

Usage: rpc.py [options] COMMAND [command arguments]; rpc.py -h lists the
commands, rpc.py COMMAND -h describes one.  See doc/rpc.md.
"""

import argparse
import logging
import os
import sys

sys.dont_write_bytecode = True   # leave no __pycache__ in the source tree
# realpath: an installed launcher or symlink still finds the package beside this file.
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

import rpc  # noqa: E402  (the package scripts/rpc/, not this file)
from rpc.client import (DEFAULT_PORT, DEFAULT_SOCKET, DEFAULT_TIMEOUT,  # noqa: E402
                        DryRunClient, JsonRpcClient, RpcClientError, RpcError)

LEVELS = ['ERROR', 'INFO', 'DEBUG']


def build_parser():
    parser = argparse.ArgumentParser(
        prog='rpc.py', description='Send JSON-RPC commands to an Osprey daemon.',
        usage='%(prog)s [options] COMMAND [arguments]',
        epilog="'%(prog)s COMMAND -h' shows the arguments of one command.")
    parser.add_argument('-s', '--server', dest='_server', metavar='ADDR',
                        default=DEFAULT_SOCKET,
                        help='Unix socket path, IP address (with -p) or HOST:PORT '
                        '(default %s)' % DEFAULT_SOCKET)
    parser.add_argument('-p', '--port', dest='_port', metavar='PORT', type=int,
                        default=DEFAULT_PORT,
                        help='TCP port when -s is an IP address (default %d)' % DEFAULT_PORT)
    parser.add_argument('-t', '--timeout', dest='_timeout', metavar='SEC', type=float,
                        default=DEFAULT_TIMEOUT,
                        help='seconds to wait for each response (default %g)'
                        % DEFAULT_TIMEOUT)
    parser.add_argument('-r', '--conn-retries', dest='_conn_retries', metavar='N', type=int,
                        default=0,
                        help='retry connecting this many times, 0.2 s apart (default 0)')
    parser.add_argument('-v', dest='_verbose_count', action='count', default=0,
                        help='print requests and responses on stderr; -vv adds connection '
                        'details')
    parser.add_argument('--verbose', dest='_verbose_level', metavar='LEVEL', type=str.upper,
                        choices=LEVELS, help='set the verbosity by name: ERROR (default), '
                        'INFO (= -v) or DEBUG (= -vv)')
    parser.add_argument('--dry-run', dest='_dry_run', action='store_true',
                        help='print the JSON request(s) instead of connecting')
    sub = parser.add_subparsers(dest='_command', metavar='COMMAND', title='commands',
                                prog='rpc.py [options]')
    rpc.add_all_parsers(sub)
    return parser


def setup_logging(args):
    level = LEVELS[min(args._verbose_count, len(LEVELS) - 1)]
    if args._verbose_level:
        level = args._verbose_level
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    log = logging.getLogger('osprey.rpc')
    log.handlers = [handler]
    log.propagate = False
    log.setLevel(getattr(logging, level))


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args._command:
        parser.error("a COMMAND is required ('rpc.py -h' lists them)")
    setup_logging(args)
    try:
        if args._dry_run:
            args._client = DryRunClient(args._server)
        else:
            args._client = JsonRpcClient(args._server, args._port, args._timeout,
                                         args._conn_retries)
        with args._client:
            args._func(args)
    except RpcError as e:
        print(e.describe(), file=sys.stderr)
        return 1
    except (RpcClientError, rpc.UsageError) as e:
        print('rpc.py %s: error: %s' % (args._command, e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # stdout closed early (e.g. piped into head): not an error of ours.
        sys.stderr.close()
        return 0
    return 0


if __name__ == '__main__':
    sys.exit(main())

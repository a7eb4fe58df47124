#!/usr/bin/env python3
"""Drive a bdevperf started with -z: send perform_tests over its RPC socket.

Usage: bdevperf.py [-s SOCKET] [-t TIMEOUT] perform_tests [-q DEPTH] [-o SIZE]
                   [-t SECONDS] [-w WORKLOAD] [-M PERCENT]

Every perform_tests parameter is optional; the ones given replace those of the
bdevperf command line (and of earlier runs).  Prints the results as JSON and
exits 0, or prints the error and exits 1.  Standard library only.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.realpath(__file__)))

from rpc.client import (DEFAULT_SOCKET, JsonRpcClient, RpcClientError,  # noqa: E402
                        RpcError)

WORKLOADS = ('read', 'write', 'randread', 'randwrite', 'rw', 'randrw', 'verify', 'reset',
             'unmap', 'flush', 'write_zeroes')


def build_parser():
    parser = argparse.ArgumentParser(
        prog='bdevperf.py', description='Control a bdevperf started with -z.')
    parser.add_argument('-s', '--server', dest='server', default=DEFAULT_SOCKET,
                        help='RPC socket of bdevperf (its -r; default %s)' % DEFAULT_SOCKET)
    parser.add_argument('-t', '--timeout', dest='timeout', type=float, default=None,
                        help='seconds to wait for the answer (default: the run time + 60 s, '
                        'or one hour when the run time is not given)')
    parser.add_argument('-r', '--conn-retries', dest='conn_retries', type=int, default=0,
                        help='retry connecting this many times, 0.2 s apart (default 0)')
    parser.add_argument('-v', '--verbose', action='store_true',
                        help='print the request and the response on stderr')
    sub = parser.add_subparsers(dest='command', metavar='COMMAND')
    p = sub.add_parser('perform_tests', help='run a test and print its results',
                       description='Run a test with the bdevs bdevperf has now; parameters '
                       'given here replace those of its command line.')
    p.add_argument('-q', dest='queue_depth', type=int, help='I/Os in flight per job')
    p.add_argument('-o', dest='io_size', type=str,
                   help='I/O size in bytes (4096, 4k, 128K)')
    p.add_argument('-t', dest='time_in_sec', type=int, help='run time in seconds')
    p.add_argument('-M', dest='rw_percentage', type=int, choices=range(0, 101),
                   metavar='[0-100]', help='reads in %% of the I/Os (rw, randrw)')
    p.add_argument('-w', dest='workload_type', type=str.lower, choices=WORKLOADS,
                   help='workload: ' + ', '.join(WORKLOADS))
    return parser


def perform_tests_params(args):
    params = {}
    for name in ('queue_depth', 'time_in_sec', 'workload_type', 'io_size', 'rw_percentage'):
        value = getattr(args, name, None)
        if value is not None:
            params[name] = value
    return params


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command != 'perform_tests':
        parser.print_help(sys.stderr)
        return 1
    params = perform_tests_params(args)
    timeout = args.timeout
    if timeout is None:
        timeout = params['time_in_sec'] + 60.0 if 'time_in_sec' in params else 3600.0
    if args.verbose:
        print('request: perform_tests %s' % json.dumps(params), file=sys.stderr)
    try:
        with JsonRpcClient(args.server, None, timeout, args.conn_retries) as client:
            result = client.call('perform_tests', params)
    except RpcError as e:
        print('perform_tests failed: %s' % (e.message or e.error), file=sys.stderr)
        return 1
    except RpcClientError as e:
        print('bdevperf.py: %s' % e, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    print(json.dumps(result, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())

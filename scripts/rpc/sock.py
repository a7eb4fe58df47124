"""Socket layer commands: implementation options and the default implementation."""

import argparse

from . import JSON, QUIET, add_command, flag


def _switch(p, name, dest, what):
    """--NAME / --no-NAME, plus SPDK's older --enable-NAME / --disable-NAME spellings."""
    g = p.add_mutually_exclusive_group()
    g.add_argument('--' + name, dest=dest, default=None, action=argparse.BooleanOptionalAction,
                   help='enable or disable ' + what)
    flag(g, '--enable-' + name, dest=dest, value=True, help='enable ' + what)
    flag(g, '--disable-' + name, dest=dest, value=False, help='disable ' + what)


def add_parser(subparsers):
    p = add_command(subparsers, 'sock_impl_get_options', 'Show the options of a socket '
                    'implementation', output=JSON)
    p.add_argument('-i', '--impl', dest='impl_name', required=True,
                   help='socket implementation name, e.g. posix')

    p = add_command(subparsers, 'sock_impl_set_options', 'Set options of a socket '
                    'implementation (they apply to sockets created afterwards)', output=QUIET)
    p.add_argument('-i', '--impl', dest='impl_name', required=True,
                   help='socket implementation name, e.g. posix')
    p.add_argument('-r', '--recv-buf-size', type=int, help='SO_RCVBUF of new sockets (bytes)')
    p.add_argument('-s', '--send-buf-size', type=int, help='SO_SNDBUF of new sockets (bytes)')
    p.add_argument('-p', '--enable-placement-id', type=int,
                   help='placement id: 0 disabled, 1 incoming NAPI, 2 incoming CPU '
                   '(accepted, no effect)')
    _switch(p, 'recv-pipe', 'enable_recv_pipe', 'the receive pipe (batched small reads)')
    _switch(p, 'quickack', 'enable_quickack', 'TCP_QUICKACK')
    _switch(p, 'zerocopy-send-server', 'enable_zerocopy_send_server',
            'MSG_ZEROCOPY sends on accepted sockets')
    _switch(p, 'zerocopy-send-client', 'enable_zerocopy_send_client',
            'MSG_ZEROCOPY sends on connected sockets')
    p.add_argument('--zerocopy-threshold', type=int,
                   help='sends smaller than this many bytes are copied (0: any size)')
    p.add_argument('--tls-version', type=int, help='TLS version (only 0: TLS is not supported)')
    _switch(p, 'ktls', 'enable_ktls', 'kernel TLS (not supported)')

    p = add_command(subparsers, 'sock_set_default_impl', 'Set the socket implementation '
                    'used when none is named', output=QUIET)
    p.add_argument('-i', '--impl', dest='impl_name', required=True,
                   help='socket implementation name, e.g. posix')

    add_command(subparsers, 'sock_get_default_impl', 'Show the default socket implementation',
                output=JSON)

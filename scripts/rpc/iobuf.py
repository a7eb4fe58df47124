"""I/O buffer pool commands: the global small/large pools' sizes and every pool's statistics."""

from . import JSON, QUIET, add_command


def add_parser(subparsers):
    p = add_command(subparsers, 'iobuf_set_options', 'Set the sizes of the global data '
                    'buffer pools (at start-up, before framework_start_init)', output=QUIET)
    p.add_argument('--small-pool-count', type=int, help='buffers in the small pool (default 8191)')
    p.add_argument('--large-pool-count', type=int, help='buffers in the large pool (default 1023)')
    p.add_argument('--small-bufsize', type=int,
                   help='bytes per small buffer (default and minimum 8192)')
    p.add_argument('--large-bufsize', type=int,
                   help='bytes per large buffer (default and minimum 131072)')

    add_command(subparsers, 'iobuf_get_stats', 'Show every data buffer pool: size, free '
                'buffers, cache grants and waits', output=JSON)

"""Block device commands: the bdev layer and its modules (malloc, null, aio,
uring, split, passthru, delay, error, nvme)."""

import argparse

from . import ARRAY, JSON, QUIET, TEXT, UsageError, add_command, flag

MiB = 1024 * 1024


def _size_to_blocks(params):
    """total_size (MiB, client-side only) -> num_blocks, as SPDK's rpc.py does."""
    size = params.pop('total_size')
    block_size = params['block_size']
    if size <= 0 or block_size <= 0:
        raise UsageError('total_size and block_size must be greater than 0')
    num_blocks = int(size * MiB) // block_size
    if num_blocks == 0:
        raise UsageError('total_size %g MiB is smaller than one %d-byte block'
                         % (size, block_size))
    out = {}
    for key, value in params.items():   # num_blocks goes just before block_size
        if key == 'block_size':
            out['num_blocks'] = num_blocks
        out[key] = value
    return out


def add_parser(subparsers):
    _bdev_layer(subparsers)
    _malloc_null(subparsers)
    _file_backed(subparsers)
    _virtual(subparsers)
    _nvme(subparsers)
    _virtio(subparsers)


def _bdev_layer(subparsers):
    p = add_command(subparsers, 'bdev_set_options', 'Set bdev layer options (at start-up, '
                    'before framework_start_init)', output=QUIET)
    p.add_argument('-p', '--bdev-io-pool-size', type=int,
                   help='number of bdev_io structures in the shared pool')
    p.add_argument('-c', '--bdev-io-cache-size', type=int,
                   help='bdev_io structures cached per thread')
    g = p.add_mutually_exclusive_group()
    g.add_argument('--auto-examine', dest='bdev_auto_examine', default=None,
                   action=argparse.BooleanOptionalAction,
                   help='let modules examine every new bdev (default on)')
    flag(g, '-e', '--enable-auto-examine', dest='bdev_auto_examine', value=True,
         help='same as --auto-examine')
    flag(g, '-d', '--disable-auto-examine', dest='bdev_auto_examine', value=False,
         help='same as --no-auto-examine')
    p.add_argument('--iobuf-small-cache-size', type=int,
                   help='small data buffers cached per thread')
    p.add_argument('--iobuf-large-cache-size', type=int,
                   help='large data buffers cached per thread')

    p = add_command(subparsers, 'bdev_examine', 'Examine a bdev now, or when it appears '
                    '(with auto examine off)', output=QUIET)
    p.add_argument('-b', '--name', required=True, help='bdev name or alias')
    add_command(subparsers, 'bdev_wait_for_examine', 'Wait until every bdev has been '
                'examined', output=QUIET)

    p = add_command(subparsers, 'bdev_get_bdevs', 'List bdevs, or show one')
    p.add_argument('-b', '--name', help='bdev name or alias')
    p.add_argument('-t', '--timeout-ms', dest='timeout', metavar='MS', type=int,
                   help='with -b: wait up to this many ms for the bdev to appear')

    p = add_command(subparsers, 'bdev_get_iostat', 'Show I/O statistics of every bdev, '
                    'or of one')
    p.add_argument('-b', '--name', help='bdev name or alias')
    flag(p, '-c', '--per-channel', help='per-channel statistics (needs -b)')

    p = add_command(subparsers, 'bdev_set_qos_limit', 'Set or clear QoS rate limits on a '
                    'bdev (0 = unlimited)', output=QUIET)
    p.add_argument('name', help='bdev name')
    p.add_argument('--rw-ios-per-sec', type=int, help='read+write I/Os per second')
    p.add_argument('--rw-mbytes-per-sec', type=int, help='read+write MiB per second')
    p.add_argument('--r-mbytes-per-sec', type=int, help='read MiB per second')
    p.add_argument('--w-mbytes-per-sec', type=int, help='write MiB per second')


def _malloc_null(subparsers):
    p = add_command(subparsers, 'bdev_malloc_create', 'Create a RAM-backed bdev; prints '
                    'its name', output=TEXT, build=_size_to_blocks)
    p.add_argument('-b', '--name', help='bdev name (default: MallocN)')
    p.add_argument('-u', '--uuid', help='bdev UUID (default: generated)')
    p.add_argument('total_size', type=float, help='size in MiB')
    p.add_argument('block_size', type=int, help='block size in bytes')
    p.add_argument('-o', '--optimal-io-boundary', type=int,
                   help='split I/O at this boundary, in blocks (0 = off)')
    p.add_argument('-m', '--md-size', type=int, help='separate metadata bytes per block')
    flag(p, '-i', '--md-interleave', help='interleave metadata with the data')
    p.add_argument('-t', '--dif-type', type=int, choices=[0, 1, 2, 3],
                   help='protection information type (needs -m)')
    flag(p, '-d', '--dif-is-head-of-md', help='PI at the start of the metadata')

    p = add_command(subparsers, 'bdev_malloc_delete', 'Delete a malloc bdev', output=QUIET)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_null_create', 'Create a bdev that discards writes '
                    'and reads zeroes; prints its name', output=TEXT, build=_size_to_blocks)
    p.add_argument('name', help='bdev name')
    p.add_argument('total_size', type=int, help='size in MiB')
    p.add_argument('block_size', type=int, help='block size in bytes')
    p.add_argument('-u', '--uuid', help='bdev UUID (default: generated)')
    p.add_argument('-m', '--md-size', type=int, help='metadata bytes per block')
    p.add_argument('-t', '--dif-type', type=int, choices=[0, 1, 2, 3],
                   help='protection information type (needs -m)')
    flag(p, '-d', '--dif-is-head-of-md', help='PI at the start of the metadata')

    p = add_command(subparsers, 'bdev_null_delete', 'Delete a null bdev', output=QUIET)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_null_resize', 'Resize a null bdev', output=TEXT)
    p.add_argument('name', help='bdev name')
    p.add_argument('new_size', type=int, help='new size in MiB')


def _file_backed(subparsers):
    p = add_command(subparsers, 'bdev_aio_create', 'Create a bdev on a file or block device '
                    'using Linux AIO; prints its name', output=TEXT)
    p.add_argument('filename', help='path of the file or block device')
    p.add_argument('name', help='bdev name')
    p.add_argument('block_size', type=int, nargs='?',
                   help='block size in bytes (default: detected)')
    flag(p, '-r', '--readonly', help='open read-only')
    flag(p, '--fallocate', help='implement unmap and write zeroes with fallocate')
    p.add_argument('-u', '--uuid', help='bdev UUID')

    p = add_command(subparsers, 'bdev_aio_delete', 'Delete an aio bdev', output=QUIET)
    p.add_argument('name', help='bdev name')
    p = add_command(subparsers, 'bdev_aio_rescan', 'Pick up a new size of the file under an '
                    'aio bdev', output=TEXT)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_uring_create', 'Create a bdev on a file or block '
                    'device using io_uring; prints its name', output=TEXT)
    p.add_argument('filename', help='path of the file or block device')
    p.add_argument('name', help='bdev name')
    p.add_argument('block_size', type=int, nargs='?',
                   help='block size in bytes (default: detected)')
    p.add_argument('-u', '--uuid', help='bdev UUID')

    p = add_command(subparsers, 'bdev_uring_delete', 'Delete a uring bdev', output=QUIET)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_uring_rescan', 'Pick up a new size of the file under a '
                    'uring bdev', output=TEXT)
    p.add_argument('name', help='bdev name')


def _virtual(subparsers):
    p = add_command(subparsers, 'bdev_split_create', 'Split a bdev into equal parts; prints '
                    'their names', output=ARRAY)
    p.add_argument('base_bdev', help='bdev to split')
    p.add_argument('split_count', type=int, help='number of parts')
    p.add_argument('-s', '--split-size-mb', type=int,
                   help='size of each part in MiB (default: base size / split_count)')
    p = add_command(subparsers, 'bdev_split_delete', 'Delete the parts of a split bdev',
                    output=QUIET)
    p.add_argument('base_bdev', help='the bdev that was split')

    p = add_command(subparsers, 'bdev_passthru_create', 'Create a bdev that passes I/O '
                    'through to another; prints its name', output=TEXT)
    p.add_argument('-b', '--base-bdev-name', required=True, help='base bdev')
    p.add_argument('-p', '--name', required=True, help='name of the new bdev')
    p.add_argument('-u', '--uuid', help='bdev UUID')
    p = add_command(subparsers, 'bdev_passthru_delete', 'Delete a passthru bdev',
                    output=QUIET)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_delay_create', 'Create a bdev that adds latency to '
                    'another (microseconds); prints its name', output=TEXT)
    p.add_argument('-b', '--base-bdev-name', required=True, help='base bdev')
    p.add_argument('-d', '--name', required=True, help='name of the new bdev')
    p.add_argument('-u', '--uuid', help='bdev UUID')
    p.add_argument('-r', '--avg-read-latency', type=int, required=True,
                   help='average read latency')
    p.add_argument('-t', '--nine-nine-read-latency', dest='p99_read_latency', type=int,
                   required=True, help='99th percentile read latency')
    p.add_argument('-w', '--avg-write-latency', type=int, required=True,
                   help='average write latency')
    p.add_argument('-n', '--nine-nine-write-latency', dest='p99_write_latency', type=int,
                   required=True, help='99th percentile write latency')
    p = add_command(subparsers, 'bdev_delay_update_latency', 'Change one latency of a delay '
                    'bdev', output=TEXT)
    p.add_argument('delay_bdev_name', help='delay bdev name')
    p.add_argument('latency_type', choices=['avg_read', 'avg_write', 'p99_read', 'p99_write'],
                   help='which latency')
    p.add_argument('latency_us', type=int, help='new value in microseconds')
    p = add_command(subparsers, 'bdev_delay_delete', 'Delete a delay bdev', output=QUIET)
    p.add_argument('name', help='bdev name')

    p = add_command(subparsers, 'bdev_error_create', 'Create an error-injection bdev '
                    '(EE_<base>) on another; prints its name', output=TEXT)
    p.add_argument('base_name', help='base bdev')
    p.add_argument('--uuid', help='bdev UUID')
    p = add_command(subparsers, 'bdev_error_inject_error', 'Make an error bdev fail or '
                    'corrupt I/Os', output=QUIET)
    p.add_argument('name', help='error bdev name')
    p.add_argument('io_type', help='clear, read, write, unmap, flush or all')
    p.add_argument('error_type', help='failure, pending, corrupt_data or nomem')
    p.add_argument('-n', '--num', type=int, help='number of I/Os to fail (default 1)')
    p.add_argument('-q', '--queue-depth', type=int,
                   help='only fail I/Os submitted at this queue depth or above')
    p.add_argument('-o', '--corrupt-offset', type=int,
                   help='corrupt_data: byte offset to XOR')
    p.add_argument('-v', '--corrupt-value', type=int,
                   help='corrupt_data: value to XOR with (1-255)')
    p = add_command(subparsers, 'bdev_error_delete', 'Delete an error bdev', output=QUIET)
    p.add_argument('name', help='bdev name')


def _nvme(subparsers):
    p = add_command(subparsers, 'bdev_nvme_attach_controller', 'Attach an NVMe controller '
                    '(PCIe or NVMe-oF) and create a bdev per namespace; prints their names',
                    output=ARRAY)
    p.add_argument('-b', '--name', required=True,
                   help='controller name, prefix of the bdev names (Nvme0 -> Nvme0n1)')
    p.add_argument('-t', '--trtype', required=True, help='pcie, tcp or rdma')
    p.add_argument('-a', '--traddr', required=True, help='PCI address or IP address')
    p.add_argument('-f', '--adrfam', help='ipv4 or ipv6')
    p.add_argument('-s', '--trsvcid', help='port')
    p.add_argument('-p', '--priority', help='connection priority (socket priority)')
    p.add_argument('-n', '--subnqn', help='subsystem NQN')
    p.add_argument('-q', '--hostnqn', help='host NQN')
    p.add_argument('-i', '--hostaddr', help='local address to connect from')
    p.add_argument('-c', '--hostsvcid', help='local port to connect from')
    flag(p, '-r', '--prchk-reftag', help='check the PI reference tag')
    flag(p, '-g', '--prchk-guard', help='check the PI guard')
    flag(p, '-e', '--hdgst', help='NVMe/TCP header digest')
    flag(p, '-d', '--ddgst', help='NVMe/TCP data digest')
    p.add_argument('--fabrics-timeout', dest='fabrics_connect_timeout_us', type=int,
                   help='fabrics connect timeout in microseconds')
    p.add_argument('-x', '--multipath', help='disable, failover or multipath')
    p.add_argument('--num-io-queues', type=int, help='number of I/O queues to request')
    p.add_argument('-l', '--ctrlr-loss-timeout-sec', type=int,
                   help='give up reconnecting after this long (-1 = never)')
    p.add_argument('-o', '--reconnect-delay-sec', type=int, help='delay between reconnects')
    p.add_argument('-u', '--fast-io-fail-timeout-sec', type=int,
                   help='fail I/O after this long without a connection')

    p = add_command(subparsers, 'bdev_nvme_detach_controller', 'Detach an NVMe controller '
                    '(or one of its paths) and delete its bdevs', output=QUIET)
    p.add_argument('name', help='controller name')
    p.add_argument('-t', '--trtype', help='only the path with this transport type')
    p.add_argument('-a', '--traddr', help='only the path with this address')
    p.add_argument('-f', '--adrfam', help='only the path with this address family')
    p.add_argument('-s', '--trsvcid', help='only the path with this port')
    p.add_argument('-n', '--subnqn', help='only the path to this subsystem NQN')
    p.add_argument('-i', '--hostaddr', help='only the path from this local address')
    p.add_argument('-c', '--hostsvcid', help='only the path from this local port')

    p = add_command(subparsers, 'bdev_nvme_get_controllers', 'List NVMe controllers, or '
                    'show one', output=JSON)
    p.add_argument('-n', '--name', help='controller name')

    p = add_command(subparsers, 'bdev_nvme_reset_controller', 'Reset an NVMe controller: '
                    'reconnect its queues and resume I/O', output=JSON)
    p.add_argument('name', help='controller name')


def _virtio(subparsers):
    p = add_command(subparsers, 'bdev_virtio_attach_controller', 'Attach a virtio device '
                    'over vhost-user (bdev_virtio); prints the bdev names')
    p.add_argument('name', help='controller name (for blk, also the bdev name)')
    p.add_argument('-t', '--trtype', required=True, help='transport: user (vhost-user)')
    p.add_argument('-a', '--traddr', required=True, help='path of the vhost-user socket')
    p.add_argument('-d', '--dev-type', dest='dev_type', required=True,
                   help='device type: blk or scsi')
    p.add_argument('--vq-count', dest='vq_count', type=int, help='number of queues (default 1)')
    p.add_argument('--vq-size', dest='vq_size', type=int,
                   help='entries per queue, a power of two (default 512)')

    p = add_command(subparsers, 'bdev_virtio_detach_controller', 'Detach a virtio controller '
                    'and remove its bdevs', output=QUIET)
    p.add_argument('name', help='controller name')

    add_command(subparsers, 'bdev_virtio_scsi_get_devices', 'List the virtio-scsi controllers '
                'and their targets', output=JSON)

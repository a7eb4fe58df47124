"""vhost target commands: vhost-user-blk and vhost-user-scsi controllers over bdevs (doc/vhost.md)."""

from . import JSON, QUIET, add_command, flag


def add_parser(subparsers):
    p = add_command(subparsers, 'vhost_create_blk_controller', 'Create a vhost-user-blk '
                    'controller serving a bdev (socket <vhost -S dir>/<ctrlr>)', output=QUIET)
    p.add_argument('ctrlr', help='controller name (the socket file name)')
    p.add_argument('dev_name', help='bdev to serve')
    p.add_argument('--cpumask', help='cores whose threads poll the queues (0x3, [0-1])')
    flag(p, '-r', '--readonly', help='read-only device')
    flag(p, '-p', '--packed_ring', dest='packed_ring', help='also offer packed virtqueues (VIRTIO_F_RING_PACKED; the driver chooses)')

    p = add_command(subparsers, 'vhost_create_scsi_controller', 'Create a vhost-user-scsi '
                    'controller with no targets (socket <vhost -S dir>/<ctrlr>)', output=QUIET)
    p.add_argument('ctrlr', help='controller name (the socket file name)')
    p.add_argument('--cpumask', help='cores whose threads poll the queues (0x3, [0-1])')
    flag(p, '--delay', help='delay starting the controller (not supported: refused)')

    p = add_command(subparsers, 'vhost_scsi_controller_add_target', 'Add a SCSI target (LUN 0 '
                    'on a bdev) to a vhost-user-scsi controller; prints its number', output=JSON)
    p.add_argument('ctrlr', help='controller name')
    p.add_argument('scsi_target_num', type=int, help='target number 0..7, -1 for the first free one')
    p.add_argument('bdev_name', help='bdev for LUN 0')

    p = add_command(subparsers, 'vhost_scsi_controller_remove_target', 'Remove a SCSI target '
                    'from a vhost-user-scsi controller (its commands in flight finish first)',
                    output=QUIET)
    p.add_argument('ctrlr', help='controller name')
    p.add_argument('scsi_target_num', type=int, help='target number')

    p = add_command(subparsers, 'vhost_delete_controller', 'Delete a vhost controller (its '
                    'socket, a connected front end and its bdev descriptor)', output=QUIET)
    p.add_argument('ctrlr', help='controller name')

    p = add_command(subparsers, 'vhost_get_controllers', 'Show vhost controllers', output=JSON)
    p.add_argument('-n', '--name', help='only this controller')

    p = add_command(subparsers, 'vhost_controller_set_coalescing', 'Delay used-ring '
                    'notifications (interrupts) of a busy controller: up to delay_base_us '
                    'once a queue does more than iops_threshold requests/s (0 0: off)',
                    output=QUIET)
    p.add_argument('ctrlr', help='controller name')
    p.add_argument('delay_base_us', type=int, help='base delay in microseconds (0 disables)')
    p.add_argument('iops_threshold', type=int, help='IOPS per queue above which calls are delayed')

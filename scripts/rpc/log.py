"""Log commands: the level recorded, the level printed, and the named log flags."""

from . import JSON, QUIET, add_command


def add_parser(subparsers):
    p = add_command(subparsers, 'log_set_level', 'Set the level of messages that are logged',
                    output=QUIET)
    p.add_argument('level', help='ERROR, WARNING, NOTICE, INFO or DEBUG')
    add_command(subparsers, 'log_get_level', 'Show the log level', output=JSON)

    p = add_command(subparsers, 'log_set_print_level', 'Set the level of messages that are '
                    'also printed to stderr', output=QUIET)
    p.add_argument('level', help='ERROR, WARNING, NOTICE, INFO or DEBUG')
    add_command(subparsers, 'log_get_print_level', 'Show the print level', output=JSON)

    p = add_command(subparsers, 'log_set_flag', 'Enable a log flag (debug messages of one '
                    'component)', output=QUIET)
    p.add_argument('flag', help='log flag name, e.g. bdev')
    p = add_command(subparsers, 'log_clear_flag', 'Disable a log flag', output=QUIET)
    p.add_argument('flag', help='log flag name, e.g. bdev')
    add_command(subparsers, 'log_get_flags', 'Show every log flag and whether it is enabled')

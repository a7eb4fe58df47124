#!/usr/bin/env python3
"""Client-side tests of scripts/rpc.py that need no daemon.

They cover argument parsing and the exact requests each command sends
(--dry-run), the client's handling of missing, refused and unanswered
sockets, response decoding, output formats and the module plugin pattern.
End-to-end tests against a real daemon live with the daemons' tests.
"""

import contextlib
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SCRIPTS = os.path.normpath(os.path.join(HERE, '..', '..', 'scripts'))
RPC_PY = os.path.join(SCRIPTS, 'rpc.py')
sys.path.insert(0, SCRIPTS)

import rpc  # noqa: E402
from rpc import client as rpc_client  # noqa: E402

UUID = '913fc008-79a7-447f-b2c4-c73543638c31'
NQN = 'nqn.2016-06.io.spdk:cnode1'

# (command line, expected params or None when the request has no params).
# Every command of the OWN_MODULES must appear here; a line is split like a shell
# would (shlex), so quoted lists stay one argument.
DRY_RUN_CASES = [
    # app
    ('rpc_get_methods', None),
    ('rpc_get_methods --current --include-aliases', {'current': True, 'include_aliases': True}),
    ('rpc_get_methods -c', {'current': True}),
    ('spdk_get_version', None),
    ('framework_start_init', None),
    ('framework_wait_init', None),
    ('framework_get_subsystems', None),
    ('framework_get_config bdev', {'name': 'bdev'}),
    ('framework_get_reactors', None),
    ('thread_get_stats', None),
    ('thread_get_pollers', None),
    ('thread_set_cpumask -i 2 -m 0x2', {'id': 2, 'cpumask': '0x2'}),
    ('spdk_kill_instance SIGTERM', {'sig_name': 'SIGTERM'}),
    # log
    ('log_set_level DEBUG', {'level': 'DEBUG'}),
    ('log_get_level', None),
    ('log_set_print_level NOTICE', {'level': 'NOTICE'}),
    ('log_get_print_level', None),
    ('log_set_flag bdev', {'flag': 'bdev'}),
    ('log_clear_flag bdev', {'flag': 'bdev'}),
    ('log_get_flags', None),
    # bdev layer
    ('bdev_set_options -p 65536 -c 256 --no-auto-examine',
     {'bdev_io_pool_size': 65536, 'bdev_io_cache_size': 256, 'bdev_auto_examine': False}),
    ('bdev_set_options -e', {'bdev_auto_examine': True}),
    ('bdev_set_options --iobuf-small-cache-size 128', {'iobuf_small_cache_size': 128}),
    # iobuf
    ('iobuf_set_options --small-pool-count 4095 --large-pool-count 511 --small-bufsize 16384 '
     '--large-bufsize 262144', {'small_pool_count': 4095, 'large_pool_count': 511,
                                'small_bufsize': 16384, 'large_bufsize': 262144}),
    ('iobuf_get_stats', None),
    ('bdev_examine -b Nvme0n1', {'name': 'Nvme0n1'}),
    ('bdev_wait_for_examine', None),
    ('bdev_get_bdevs', None),
    ('bdev_get_bdevs -b Malloc0 -t 1000', {'name': 'Malloc0', 'timeout': 1000}),
    ('bdev_get_iostat', None),
    ('bdev_get_iostat -b Malloc0 -c', {'name': 'Malloc0', 'per_channel': True}),
    ('bdev_set_qos_limit Malloc0 --rw-ios-per-sec 20000 --r-mbytes-per-sec 0',
     {'name': 'Malloc0', 'rw_ios_per_sec': 20000, 'r_mbytes_per_sec': 0}),
    # malloc / null: sizes in MiB become num_blocks
    ('bdev_malloc_create -b Malloc0 64 512',
     {'name': 'Malloc0', 'num_blocks': 131072, 'block_size': 512}),
    ('bdev_malloc_create 0.5 4096 -u ' + UUID,
     {'uuid': UUID, 'num_blocks': 128, 'block_size': 4096}),
    ('bdev_malloc_create 8 4096 -m 64 -t 1 -d',
     {'num_blocks': 2048, 'block_size': 4096, 'md_size': 64, 'dif_type': 1,
      'dif_is_head_of_md': True}),
    ('bdev_malloc_delete Malloc0', {'name': 'Malloc0'}),
    ('bdev_null_create Null0 100 4096', {'name': 'Null0', 'num_blocks': 25600,
                                         'block_size': 4096}),
    ('bdev_null_create Null1 1 512 -u ' + UUID,
     {'name': 'Null1', 'num_blocks': 2048, 'block_size': 512, 'uuid': UUID}),
    ('bdev_null_delete Null0', {'name': 'Null0'}),
    ('bdev_null_resize Null0 200', {'name': 'Null0', 'new_size': 200}),
    # file-backed
    ('bdev_aio_create /tmp/disk.img Aio0', {'filename': '/tmp/disk.img', 'name': 'Aio0'}),
    ('bdev_aio_create /dev/sdb Aio1 4096 -r --fallocate',
     {'filename': '/dev/sdb', 'name': 'Aio1', 'block_size': 4096, 'readonly': True,
      'fallocate': True}),
    ('bdev_aio_delete Aio0', {'name': 'Aio0'}),
    ('bdev_aio_rescan Aio0', {'name': 'Aio0'}),
    ('bdev_uring_rescan Uring0', {'name': 'Uring0'}),
    ('bdev_uring_create /dev/nvme0n1 Uring0 512 -u ' + UUID,
     {'filename': '/dev/nvme0n1', 'name': 'Uring0', 'block_size': 512, 'uuid': UUID}),
    ('bdev_uring_delete Uring0', {'name': 'Uring0'}),
    # virtual bdevs
    ('bdev_split_create Malloc0 4', {'base_bdev': 'Malloc0', 'split_count': 4}),
    ('bdev_split_create Malloc0 2 -s 16',
     {'base_bdev': 'Malloc0', 'split_count': 2, 'split_size_mb': 16}),
    ('bdev_split_delete Malloc0', {'base_bdev': 'Malloc0'}),
    ('bdev_passthru_create -b Malloc0 -p PT0',
     {'base_bdev_name': 'Malloc0', 'name': 'PT0'}),
    ('bdev_passthru_delete PT0', {'name': 'PT0'}),
    ('bdev_delay_create -b Malloc0 -d Delay0 -r 100 -t 200 -w 300 -n 400',
     {'base_bdev_name': 'Malloc0', 'name': 'Delay0', 'avg_read_latency': 100,
      'p99_read_latency': 200, 'avg_write_latency': 300, 'p99_write_latency': 400}),
    ('bdev_delay_update_latency Delay0 p99_write 5000',
     {'delay_bdev_name': 'Delay0', 'latency_type': 'p99_write', 'latency_us': 5000}),
    ('bdev_delay_delete Delay0', {'name': 'Delay0'}),
    ('bdev_virtio_attach_controller -t user -a /tmp/v.sock -d blk --vq-count 2 --vq-size 256 '
     'VirtioBlk0',
     {'name': 'VirtioBlk0', 'trtype': 'user', 'traddr': '/tmp/v.sock', 'dev_type': 'blk',
      'vq_count': 2, 'vq_size': 256}),
    ('bdev_virtio_detach_controller VirtioBlk0', {'name': 'VirtioBlk0'}),
    ('bdev_virtio_attach_controller -t user -a /tmp/s.sock -d scsi VirtioScsi0',
     {'name': 'VirtioScsi0', 'trtype': 'user', 'traddr': '/tmp/s.sock', 'dev_type': 'scsi'}),
    ('bdev_virtio_scsi_get_devices', None),
    ('vhost_create_blk_controller vblk1 Malloc0 --cpumask 0x3',
     {'ctrlr': 'vblk1', 'dev_name': 'Malloc0', 'cpumask': '0x3'}),
    ('vhost_create_blk_controller vblk0 Malloc0 -r',
     {'ctrlr': 'vblk0', 'dev_name': 'Malloc0', 'readonly': True}),
    ('vhost_create_scsi_controller vscsi0', {'ctrlr': 'vscsi0'}),
    ('vhost_scsi_controller_add_target vscsi0 -1 Malloc0',
     {'ctrlr': 'vscsi0', 'scsi_target_num': -1, 'bdev_name': 'Malloc0'}),
    ('vhost_scsi_controller_add_target vscsi0 3 Malloc1',
     {'ctrlr': 'vscsi0', 'scsi_target_num': 3, 'bdev_name': 'Malloc1'}),
    ('vhost_scsi_controller_remove_target vscsi0 3', {'ctrlr': 'vscsi0', 'scsi_target_num': 3}),
    ('vhost_delete_controller vblk0', {'ctrlr': 'vblk0'}),
    ('vhost_get_controllers -n vblk0', {'name': 'vblk0'}),
    ('vhost_controller_set_coalescing vblk0 50 100000',
     {'ctrlr': 'vblk0', 'delay_base_us': 50, 'iops_threshold': 100000}),
    ('bdev_error_create Malloc0', {'base_name': 'Malloc0'}),
    ('bdev_error_inject_error EE_Malloc0 read failure -n 3',
     {'name': 'EE_Malloc0', 'io_type': 'read', 'error_type': 'failure', 'num': 3}),
    ('bdev_error_inject_error EE_Malloc0 write corrupt_data -o 8 -v 255 -q 4',
     {'name': 'EE_Malloc0', 'io_type': 'write', 'error_type': 'corrupt_data',
      'queue_depth': 4, 'corrupt_offset': 8, 'corrupt_value': 255}),
    ('bdev_error_delete EE_Malloc0', {'name': 'EE_Malloc0'}),
    # nvme
    ('bdev_nvme_attach_controller -b Nvme0 -t tcp -a 127.0.0.1 -f ipv4 -s 4420 -n ' + NQN,
     {'name': 'Nvme0', 'trtype': 'tcp', 'traddr': '127.0.0.1', 'adrfam': 'ipv4',
      'trsvcid': '4420', 'subnqn': NQN}),
    ('bdev_nvme_attach_controller -b Nvme1 -t pcie -a 0000:01:00.0 -e -d',
     {'name': 'Nvme1', 'trtype': 'pcie', 'traddr': '0000:01:00.0', 'hdgst': True,
      'ddgst': True}),
    ('bdev_nvme_detach_controller Nvme0', {'name': 'Nvme0'}),
    ('bdev_nvme_get_controllers', None),
    ('bdev_nvme_get_controllers -n Nvme0', {'name': 'Nvme0'}),
    ('bdev_nvme_reset_controller Nvme0', {'name': 'Nvme0'}),
    # nvmf
    ('nvmf_create_transport -t TCP', {'trtype': 'TCP'}),
    ('nvmf_create_transport -t TCP -u 16384 -m 8 -c 8192 -q 128 -o -z',
     {'trtype': 'TCP', 'max_queue_depth': 128, 'max_io_qpairs_per_ctrlr': 8,
      'in_capsule_data_size': 8192, 'io_unit_size': 16384, 'zcopy': True,
      'c2h_success': False}),
    ('nvmf_get_transports', None),
    ('nvmf_get_transports --trtype tcp', {'trtype': 'tcp'}),
    ('nvmf_get_stats', None),
    ('nvmf_create_subsystem %s -a -s SPDK00000000000001 -d Osprey_Ctrl -m 32' % NQN,
     {'nqn': NQN, 'allow_any_host': True, 'serial_number': 'SPDK00000000000001',
      'model_number': 'Osprey_Ctrl', 'max_namespaces': 32}),
    ('nvmf_create_subsystem ' + NQN, {'nqn': NQN}),
    ('nvmf_delete_subsystem ' + NQN, {'nqn': NQN}),
    ('nvmf_get_subsystems', None),
    ('nvmf_get_subsystems ' + NQN, {'nqn': NQN}),
    ('nvmf_subsystem_add_listener %s -t tcp -a 127.0.0.1 -s 4420 -f ipv4' % NQN,
     {'nqn': NQN, 'listen_address': {'trtype': 'tcp', 'adrfam': 'ipv4',
                                     'traddr': '127.0.0.1', 'trsvcid': '4420'}}),
    ('nvmf_subsystem_add_listener discovery -t tcp -a 127.0.0.1 -s 8009',
     {'nqn': 'nqn.2014-08.org.nvmexpress.discovery',
      'listen_address': {'trtype': 'tcp', 'traddr': '127.0.0.1', 'trsvcid': '8009'}}),
    ('nvmf_subsystem_remove_listener %s -t tcp -a 127.0.0.1 -s 4420' % NQN,
     {'nqn': NQN, 'listen_address': {'trtype': 'tcp', 'traddr': '127.0.0.1',
                                     'trsvcid': '4420'}}),
    ('nvmf_subsystem_add_ns %s Malloc0' % NQN,
     {'nqn': NQN, 'namespace': {'bdev_name': 'Malloc0'}}),
    ('nvmf_subsystem_add_ns %s Malloc1 -n 2 -u %s -g 000102030405060708090a0b0c0d0e0f '
     '-e 0001020304050607' % (NQN, UUID),
     {'nqn': NQN, 'namespace': {'bdev_name': 'Malloc1', 'nsid': 2, 'uuid': UUID,
                                'nguid': '000102030405060708090a0b0c0d0e0f',
                                'eui64': '0001020304050607'}}),
    ('nvmf_subsystem_remove_ns %s 2' % NQN, {'nqn': NQN, 'nsid': 2}),
    ('nvmf_subsystem_add_host %s nqn.2014-08.org.nvmexpress:uuid:h1' % NQN,
     {'nqn': NQN, 'host': 'nqn.2014-08.org.nvmexpress:uuid:h1'}),
    ('nvmf_subsystem_remove_host %s nqn.2014-08.org.nvmexpress:uuid:h1' % NQN,
     {'nqn': NQN, 'host': 'nqn.2014-08.org.nvmexpress:uuid:h1'}),
    ('nvmf_subsystem_allow_any_host ' + NQN, {'nqn': NQN, 'allow_any_host': True}),
    ('nvmf_subsystem_allow_any_host -e ' + NQN, {'nqn': NQN, 'allow_any_host': True}),
    ('nvmf_subsystem_allow_any_host -d ' + NQN, {'nqn': NQN, 'allow_any_host': False}),
    ('nvmf_subsystem_get_controllers ' + NQN, {'nqn': NQN}),
    ('nvmf_subsystem_get_qpairs ' + NQN, {'nqn': NQN}),
    ('nvmf_subsystem_get_listeners ' + NQN, {'nqn': NQN}),
    ('nvmf_subsystem_get_listeners %s -t tgt1' % NQN, {'nqn': NQN, 'tgt_name': 'tgt1'}),    # sock
    ('sock_impl_get_options -i posix', {'impl_name': 'posix'}),
    ('sock_impl_set_options -i posix -r 65536 -s 131072 --enable-zerocopy-send-server '
     '--no-recv-pipe --zerocopy-threshold 16384',
     {'impl_name': 'posix', 'recv_buf_size': 65536, 'send_buf_size': 131072,
      'enable_zerocopy_send_server': True, 'enable_recv_pipe': False,
      'zerocopy_threshold': 16384}),
    ('sock_impl_set_options -i posix -p 1 --quickack --disable-zerocopy-send-client '
     '--tls-version 0 --no-ktls',
     {'impl_name': 'posix', 'enable_placement_id': 1, 'enable_quickack': True,
      'enable_zerocopy_send_client': False, 'tls_version': 0, 'enable_ktls': False}),
    ('sock_impl_set_options --impl posix --enable-recv-pipe --zerocopy-send-client',
     {'impl_name': 'posix', 'enable_recv_pipe': True, 'enable_zerocopy_send_client': True}),
    ('sock_set_default_impl -i posix', {'impl_name': 'posix'}),
    ('sock_get_default_impl', None),
]

ISCSI_TGT = 'iqn.2016-06.io.spdk:disk1'
ISCSI_DRY_RUN_CASES = [
    ('iscsi_set_options', None),
    ('iscsi_set_options -f /etc/osprey/auth.conf -b iqn.2026-12.com.example -o 10 -n 5 -r -m '
     '-g 1 -a 16 -q 32 -c 4 -w 3 -v 30 -s 65536 -i -l 0 -p -x 32 -k 8 -u 4096 -j 256 -z 512',
     {'auth_file': '/etc/osprey/auth.conf', 'node_base': 'iqn.2026-12.com.example',
      'nop_timeout': 10, 'nop_in_interval': 5, 'require_chap': True, 'mutual_chap': True,
      'chap_group': 1, 'max_sessions': 16, 'max_queue_depth': 32,
      'max_connections_per_session': 4, 'default_time2wait': 3, 'default_time2retain': 30,
      'first_burst_length': 65536, 'immediate_data': True, 'error_recovery_level': 0,
      'allow_duplicated_isid': True, 'max_large_datain_per_connection': 32,
      'max_r2t_per_connection': 8, 'pdu_pool_size': 4096, 'immediate_data_pool_size': 256,
      'data_out_pool_size': 512}),
    ('iscsi_set_options --disable-chap --max-queue-depth 128',
     {'disable_chap': True, 'max_queue_depth': 128}),
    ('iscsi_get_options', None),
    ('iscsi_set_discovery_auth -r -m -g 2',
     {'require_chap': True, 'mutual_chap': True, 'chap_group': 2}),
    ('iscsi_set_discovery_auth -d', {'disable_chap': True}),
    ('iscsi_get_discovery_auth', None),
    ('iscsi_set_options --max-burst-length 1048576 --max-recv-data-segment-length 65536',
     {'max_burst_length': 1048576, 'max_recv_data_segment_length': 65536}),
    ("iscsi_create_auth_group 1 -c 'user:u1 secret:s1 muser:mu1 msecret:ms1,user:u2 secret:s:2'",
     {'tag': 1, 'secrets': [{'user': 'u1', 'secret': 's1', 'muser': 'mu1', 'msecret': 'ms1'},
                            {'user': 'u2', 'secret': 's:2'}]}),
    ('iscsi_create_auth_group 2', {'tag': 2}),
    ('iscsi_delete_auth_group 2', {'tag': 2}),
    ('iscsi_auth_group_add_secret 1 -u u3 -s s3 -m mu3 -r ms3',
     {'tag': 1, 'user': 'u3', 'secret': 's3', 'muser': 'mu3', 'msecret': 'ms3'}),
    ('iscsi_auth_group_add_secret 1 --user u4 --secret s4',
     {'tag': 1, 'user': 'u4', 'secret': 's4'}),
    ('iscsi_auth_group_remove_secret 1 -u u3', {'tag': 1, 'user': 'u3'}),
    ('iscsi_get_auth_groups', None),
    ('iscsi_create_portal_group 1 127.0.0.1:3260',
     {'tag': 1, 'portals': [{'host': '127.0.0.1', 'port': '3260'}]}),
    ("iscsi_create_portal_group 2 '127.0.0.1:3261  [::1]:3262' -p -w",
     {'tag': 2, 'portals': [{'host': '127.0.0.1', 'port': '3261'},
                            {'host': '[::1]', 'port': '3262'}],
      'private': True, 'wait': True}),
    ('iscsi_start_portal_group 2', {'tag': 2}),
    ('iscsi_delete_portal_group 2', {'tag': 2}),
    ('iscsi_portal_group_set_auth 1 -r -g 1', {'tag': 1, 'require_chap': True, 'chap_group': 1}),
    ('iscsi_get_portal_groups', None),
    ("iscsi_create_initiator_group 1 ANY '127.0.0.1/32 10.0.0.0/8'",
     {'tag': 1, 'initiators': ['ANY'], 'netmasks': ['127.0.0.1/32', '10.0.0.0/8']}),
    ("iscsi_initiator_group_add_initiators 1 -n 'iqn.2016-06.io.spdk:h1 iqn.2016-06.io.spdk:h2' "
     "-m 192.168.1.0/24",
     {'tag': 1, 'initiators': ['iqn.2016-06.io.spdk:h1', 'iqn.2016-06.io.spdk:h2'],
      'netmasks': ['192.168.1.0/24']}),
    ('iscsi_initiator_group_remove_initiators 1 -m 192.168.1.0/24',
     {'tag': 1, 'netmasks': ['192.168.1.0/24']}),
    ('iscsi_delete_initiator_group 1', {'tag': 1}),
    ('iscsi_get_initiator_groups', None),
    ("iscsi_create_target_node disk1 'Disk One' 'Malloc0:0 Malloc1:1' '1:1 2:1' 64 -d -H -D",
     {'name': 'disk1', 'alias_name': 'Disk One',
      'luns': [{'bdev_name': 'Malloc0', 'lun_id': 0}, {'bdev_name': 'Malloc1', 'lun_id': 1}],
      'pg_ig_maps': [{'pg_tag': 1, 'ig_tag': 1}, {'pg_tag': 2, 'ig_tag': 1}],
      'queue_depth': 64, 'disable_chap': True, 'header_digest': True, 'data_digest': True}),
    ('iscsi_create_target_node %s a Malloc0:0 1:1 16 -r -m -g 1' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'alias_name': 'a', 'luns': [{'bdev_name': 'Malloc0', 'lun_id': 0}],
      'pg_ig_maps': [{'pg_tag': 1, 'ig_tag': 1}], 'queue_depth': 16, 'require_chap': True,
      'mutual_chap': True, 'chap_group': 1}),
    ('iscsi_delete_target_node ' + ISCSI_TGT, {'name': ISCSI_TGT}),
    ('iscsi_target_node_add_lun %s Malloc2 -i 3' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'bdev_name': 'Malloc2', 'lun_id': 3}),
    ('iscsi_target_node_add_lun %s Malloc2 -i 0' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'bdev_name': 'Malloc2', 'lun_id': 0}),
    ('iscsi_target_node_add_lun %s Malloc2' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'bdev_name': 'Malloc2'}),
    ("iscsi_target_node_add_pg_ig_maps %s '2:1 2:2'" % ISCSI_TGT,
     {'name': ISCSI_TGT, 'pg_ig_maps': [{'pg_tag': 2, 'ig_tag': 1}, {'pg_tag': 2, 'ig_tag': 2}]}),
    ('iscsi_target_node_remove_pg_ig_maps %s 2:1' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'pg_ig_maps': [{'pg_tag': 2, 'ig_tag': 1}]}),
    ('iscsi_target_node_set_auth %s -d' % ISCSI_TGT, {'name': ISCSI_TGT, 'disable_chap': True}),
    ('iscsi_target_node_set_auth %s -r -m -g 3' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'require_chap': True, 'mutual_chap': True, 'chap_group': 3}),
    ('iscsi_target_node_set_redirect %s 1 -a 10.0.0.3 -p 3260' % ISCSI_TGT,
     {'name': ISCSI_TGT, 'pg_tag': 1, 'redirect_host': '10.0.0.3', 'redirect_port': '3260'}),
    ('iscsi_target_node_set_redirect %s 1' % ISCSI_TGT, {'name': ISCSI_TGT, 'pg_tag': 1}),
    ('iscsi_target_node_request_logout %s -t 1' % ISCSI_TGT, {'name': ISCSI_TGT, 'pg_tag': 1}),
    ('iscsi_target_node_request_logout ' + ISCSI_TGT, {'name': ISCSI_TGT}),
    ('iscsi_get_target_nodes', None),
    ('iscsi_get_connections', None),
    ('iscsi_get_stats', None),
    ('scsi_get_devices', None),
]
DRY_RUN_CASES += ISCSI_DRY_RUN_CASES

# Commands whose dry run is checked by their own tests below.
MULTI_REQUEST = {'save_config', 'load_config'}
OWN_MODULES = ('app', 'bdev', 'iobuf', 'iscsi', 'log', 'nvmf', 'sock')


def run(args, stdin=None, timeout=30):
    """Run rpc.py as a process (for exit codes, stderr and real sockets)."""
    return subprocess.run([sys.executable, RPC_PY] + args, input=stdin, capture_output=True,
                          text=True, timeout=timeout)


def load_main():
    import importlib.util
    spec = importlib.util.spec_from_file_location('rpc_main', RPC_PY)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RPC_MAIN = load_main()


def run_inproc(args):
    """Run rpc.py's main() in this process (fast, for the many dry-run cases).

    Returns (exit code, stdout, stderr) like a process would produce.
    """
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = RPC_MAIN.main(args)
        except SystemExit as e:   # argparse: -h and usage errors
            rc = e.code if isinstance(e.code, int) else 1
    return rc, out.getvalue(), err.getvalue()


def requests_of(stdout):
    """Split dry-run output (one indented JSON request after another) into objects."""
    dec, text, out = json.JSONDecoder(), stdout.strip(), []
    while text:
        obj, end = dec.raw_decode(text)
        out.append(obj)
        text = text[end:].strip()
    return out


def commands_of_modules(names):
    import argparse
    result = {}
    for mod in rpc.command_modules():
        short = mod.__name__.split('.')[-1]
        if short not in names:
            continue
        sub = argparse.ArgumentParser().add_subparsers()
        mod.add_parser(sub)
        result.update({c: short for c in sub.choices})
    return result


# --- tests -----------------------------------------------------------------

def test_help_lists_every_command():
    r = run(['-h'])
    assert r.returncode == 0, r.stderr
    for cmd in commands_of_modules(OWN_MODULES):
        assert cmd in r.stdout, 'rpc.py -h does not list %s' % cmd
    for opt in ('--server', '--port', '--timeout', '--conn-retries', '--verbose', '--dry-run'):
        assert opt in r.stdout, opt


def test_every_command_has_help():
    for cmd in commands_of_modules(OWN_MODULES):
        rc, out, err = run_inproc([cmd, '-h'])
        assert rc == 0 and 'usage: rpc.py [options] %s' % cmd in out, '%s -h: %s' % (cmd, err)


def test_dry_run_cases_cover_every_command():
    covered = {line.split()[0] for line, _ in DRY_RUN_CASES} | MULTI_REQUEST
    missing = sorted(set(commands_of_modules(OWN_MODULES)) - covered)
    assert not missing, 'no --dry-run case for: %s' % ', '.join(missing)


def test_dry_run_requests():
    failures = []
    for line, params in DRY_RUN_CASES:
        rc, out, err = run_inproc(['--dry-run'] + shlex.split(line))
        if rc != 0:
            failures.append('%s: exit %d: %s' % (line, rc, err.strip()))
            continue
        try:
            (req,) = requests_of(out)
        except ValueError as e:
            failures.append('%s: output is not one JSON request (%s): %r' % (line, e, out))
            continue
        want = {'jsonrpc': '2.0', 'method': line.split()[0], 'id': 1}
        if params is not None:
            want['params'] = params
        if req != want:
            failures.append('%s:\n  sent     %s\n  expected %s'
                            % (line, json.dumps(req, sort_keys=True),
                               json.dumps(want, sort_keys=True)))
    assert not failures, '\n'.join(failures)


def test_dry_run_does_not_connect():
    r = run(['-s', '/nonexistent/dir/osprey.sock', '--dry-run', 'spdk_get_version'])
    assert r.returncode == 0 and r.stderr == '', r.stderr
    assert requests_of(r.stdout)[0]['method'] == 'spdk_get_version'


def test_missing_socket():
    path = os.path.join(tempfile.mkdtemp(), 'no.sock')
    r = run(['-s', path, 'spdk_get_version'])
    assert r.returncode == 1, r.returncode
    assert r.stdout == '', r.stdout
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and path in lines[0] and 'No such file' in lines[0], r.stderr


def test_default_socket_is_named():
    if os.path.exists('/var/tmp/osprey.sock'):
        return  # a daemon is running here; nothing to check
    r = run(['spdk_get_version'])
    assert r.returncode == 1 and '/var/tmp/osprey.sock' in r.stderr, r.stderr


def test_refused_unix_socket():
    # A bound socket that does not listen refuses connections: no server involved.
    path = os.path.join(tempfile.mkdtemp(), 'refuse.sock')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    try:
        r = run(['-s', path, 'rpc_get_methods'])
    finally:
        s.close()
    assert r.returncode == 1 and path in r.stderr and 'refused' in r.stderr, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def _unused_tcp_port():
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    port = s.getsockname()[1]
    return s, port   # keep it bound (not listening) so that nothing else takes it


def test_refused_tcp():
    s, port = _unused_tcp_port()
    try:
        for args in (['-s', '127.0.0.1', '-p', str(port)], ['-s', '127.0.0.1:%d' % port]):
            r = run(args + ['spdk_get_version'])
            assert r.returncode == 1, r.returncode
            assert '127.0.0.1:%d' % port in r.stderr and 'refused' in r.stderr, r.stderr
    finally:
        s.close()


def test_conn_retries_wait_then_fail():
    path = os.path.join(tempfile.mkdtemp(), 'late.sock')
    start = time.monotonic()
    r = run(['-s', path, '-r', '3', 'spdk_get_version'])
    elapsed = time.monotonic() - start
    assert r.returncode == 1 and path in r.stderr, r.stderr
    assert elapsed >= 0.55, 'three retries 0.2 s apart took only %.2f s' % elapsed


def test_timeout_when_unanswered():
    # The kernel completes the connection from the listen backlog; nobody ever
    # accepts or answers it, so the client must give up after -t seconds.
    path = os.path.join(tempfile.mkdtemp(), 'mute.sock')
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(4)
    try:
        start = time.monotonic()
        r = run(['-s', path, '-t', '0.5', 'spdk_get_version'])
        elapsed = time.monotonic() - start
    finally:
        s.close()
    assert r.returncode == 1, r.returncode
    assert 'timed out' in r.stderr and path in r.stderr, r.stderr
    assert 0.5 <= elapsed < 10, elapsed


def test_invalid_timeout():
    r = run(['-t', '0', '-s', '/nonexistent.sock', 'spdk_get_version'])
    assert r.returncode == 1 and 'timeout' in r.stderr, r.stderr


def test_no_command():
    r = run([])
    assert r.returncode != 0 and 'COMMAND' in r.stderr, r.stderr


def test_unknown_command_and_missing_argument():
    r = run(['--dry-run', 'no_such_method'])
    assert r.returncode == 2 and 'invalid choice' in r.stderr, r.stderr
    r = run(['--dry-run', 'bdev_malloc_delete'])
    assert r.returncode == 2 and 'name' in r.stderr, r.stderr
    r = run(['--dry-run', 'bdev_malloc_create', '64'])
    assert r.returncode == 2, r.stderr
    r = run(['--dry-run', 'bdev_delay_update_latency', 'D0', 'p50_read', '1'])
    assert r.returncode == 2 and 'invalid choice' in r.stderr, r.stderr
    r = run(['--dry-run', 'bdev_set_options', '-e', '-d'])
    assert r.returncode == 2 and 'not allowed' in r.stderr, r.stderr


def test_bad_sizes_fail_before_connecting():
    for args in (['64', '0'], ['0', '512'], ['0.0001', '4096']):
        r = run(['-s', '/nonexistent.sock', 'bdev_malloc_create'] + args)
        assert r.returncode == 1, r.returncode
        assert 'connect' not in r.stderr and 'bdev_malloc_create' in r.stderr, r.stderr


def test_iscsi_bad_lists_fail_before_connecting():
    cases = [
        (['iscsi_create_target_node', 'd', 'a', 'Malloc0', '1:1', '8'],
         "'Malloc0' is not BDEV:LUN_ID"),
        (['iscsi_create_target_node', 'd', 'a', 'Malloc0:x', '1:1', '8'], "'x' in 'Malloc0:x'"),
        (['iscsi_create_target_node', 'd', 'a', 'Malloc0:0', '1-1', '8'],
         "'1-1' is not PG_TAG:IG_TAG"),
        (['iscsi_create_target_node', 'd', 'a', ' ', '1:1', '8'], 'luns: the list is empty'),
        (['iscsi_target_node_add_pg_ig_maps', 'd', '1:one'], "'one' in '1:one'"),
        (['iscsi_create_portal_group', '1', '127.0.0.1'], "'127.0.0.1' is not HOST:PORT"),
        (['iscsi_create_portal_group', '1', '127.0.0.1:@0x1'], "has no port"),
        (['iscsi_create_initiator_group', '1', 'ANY', ''], 'netmasks: the list is empty'),
        (['iscsi_create_auth_group', '1', '-c', 'user=u secret=s'], "'user=u' is not KEY:VALUE"),
        (['iscsi_create_auth_group', '1', '-c', 'user:a user:b'], "'user' given twice"),
    ]
    for args, needle in cases:
        r = run(['-s', '/nonexistent.sock'] + args)
        assert r.returncode == 1, (args, r.returncode, r.stderr)
        assert 'connect' not in r.stderr and needle in r.stderr, (args, r.stderr)


def test_malloc_size_conversion():
    for size, bs, blocks in (('1', '512', 2048), ('64', '4096', 16384), ('0.25', '512', 512),
                             ('3', '520', 6049)):
        rc, out, err = run_inproc(['--dry-run', 'bdev_malloc_create', size, bs])
        req = requests_of(out)[0]
        assert req['params'] == {'num_blocks': blocks, 'block_size': int(bs)}, req


def test_save_config_dry_run():
    r = run(['--dry-run', 'save_config', '-i', '4', '-o', '/nonexistent/x.json'])
    assert r.returncode == 0, r.stderr
    reqs = requests_of(r.stdout)
    assert [q['method'] for q in reqs] == ['framework_get_subsystems'], reqs


CONFIG = {'subsystems': [
    {'subsystem': 'bdev', 'config': [
        {'method': 'bdev_set_options', 'params': {'bdev_io_pool_size': 1024}},
        {'method': 'bdev_malloc_create',
         'params': {'name': 'Malloc0', 'num_blocks': 2048, 'block_size': 512}},
        {'method': 'bdev_wait_for_examine'}]},
    {'subsystem': 'iscsi', 'config': []},
    {'subsystem': 'vhost', 'config': None},
    {'subsystem': 'nvmf', 'config': [
        {'method': 'nvmf_create_transport', 'params': {'trtype': 'TCP'}}]}]}


def _check_load_config_requests(reqs):
    assert [q['method'] for q in reqs] == [
        'bdev_set_options', 'bdev_malloc_create', 'bdev_wait_for_examine',
        'nvmf_create_transport']
    assert [q['id'] for q in reqs] == [1, 2, 3, 4]
    assert reqs[1]['params'] == CONFIG['subsystems'][0]['config'][1]['params']
    assert 'params' not in reqs[2]


def test_load_config_dry_run_stdin():
    r = run(['--dry-run', 'load_config'], stdin=json.dumps(CONFIG))
    assert r.returncode == 0, r.stderr
    _check_load_config_requests(requests_of(r.stdout))


def test_load_config_dry_run_file():
    path = os.path.join(tempfile.mkdtemp(), 'conf.json')
    with open(path, 'w') as f:
        json.dump(CONFIG, f, indent=2)
    r = run(['--dry-run', 'load_config', '-j', path])
    assert r.returncode == 0, r.stderr
    _check_load_config_requests(requests_of(r.stdout))


def test_load_config_bad_input():
    r = run(['--dry-run', 'load_config', '-j', '/nonexistent/conf.json'])
    assert r.returncode == 1 and '/nonexistent/conf.json' in r.stderr, r.stderr
    for text in ('{"subsystems": [', '[]', '{"subsystems": [{"config": [{"params": {}}]}]}',
                 '{"subsystems": [{"config": {"method": "x"}}]}'):
        r = run(['--dry-run', 'load_config'], stdin=text)
        assert r.returncode == 1 and 'load_config' in r.stderr, (text, r.stderr)
        assert 'Traceback' not in r.stderr, r.stderr


# --- in-process tests of the library pieces ---------------------------------

def test_response_reader_split_chunks():
    resp = {'jsonrpc': '2.0', 'id': 1, 'result': {'name': 'Malloc-\u00e9\u4e2d', 'n': [1, 2]}}
    data = json.dumps(resp, ensure_ascii=False).encode() + b'  {"id": 2, "result": true}'
    reader = rpc_client.ResponseReader()
    got = []
    for i in range(len(data)):      # one byte at a time, splitting UTF-8 sequences too
        reader.feed(data[i:i + 1])
        v = reader.next_value()
        if v is not None:
            got.append(v)
    assert got == [resp, {'id': 2, 'result': True}], got
    assert reader.next_value() is None


def test_response_reader_incomplete():
    reader = rpc_client.ResponseReader()
    reader.feed(b'{"jsonrpc": "2.0", "result": "abc')
    assert reader.next_value() is None
    assert reader.pending().startswith('{"jsonrpc"')
    reader.feed(b'"}\n')
    assert reader.next_value() == {'jsonrpc': '2.0', 'result': 'abc'}


def test_parse_address():
    import socket as s
    pa = rpc_client.parse_address
    assert pa('/var/tmp/osprey.sock') == ('unix', '/var/tmp/osprey.sock')
    assert pa('osprey.sock') == ('unix', 'osprey.sock')
    assert pa('127.0.0.1') == ('tcp', s.AF_INET, '127.0.0.1', 5260)
    assert pa('127.0.0.1', 7000) == ('tcp', s.AF_INET, '127.0.0.1', 7000)
    assert pa('::1', 7000) == ('tcp', s.AF_INET6, '::1', 7000)
    assert pa('[::1]:7001') == ('tcp', s.AF_INET6, '::1', 7001)
    assert pa('127.0.0.1:7002') == ('tcp', s.AF_INET, '127.0.0.1', 7002)
    assert pa('localhost:7003') == ('tcp', s.AF_INET, 'localhost', 7003)


def _printed(result, output):
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        rpc.print_result(result, output)
    return buf.getvalue()


def test_print_result_formats():
    assert _printed(True, rpc.JSON) == 'true\n'
    assert _printed(False, rpc.JSON) == 'false\n'
    assert _printed({'a': [1]}, rpc.JSON) == '{\n  "a": [\n    1\n  ]\n}\n'
    assert _printed('NOTICE', rpc.JSON) == '"NOTICE"\n'
    assert _printed('Malloc0', rpc.TEXT) == 'Malloc0\n'
    assert _printed({'version': 'x'}, rpc.TEXT) == '{\n  "version": "x"\n}\n'
    assert _printed(['Nvme0n1', 'a b'], rpc.ARRAY) == "Nvme0n1 'a b'\n"
    assert _printed(True, rpc.QUIET) == ''
    assert _printed(rpc_client.DRY_RUN, rpc.JSON) == ''


def test_rpc_error_message():
    req = {'jsonrpc': '2.0', 'method': 'bdev_malloc_delete', 'id': 1,
           'params': {'name': 'Nope'}}
    e = rpc_client.RpcError(req, {'code': -19, 'message': 'No such device'})
    text = e.describe()
    assert 'Got JSON-RPC error response' in text and 'No such device' in text
    assert '"code": -19' in text and '"bdev_malloc_delete"' in text
    assert e.code == -19 and e.message == 'No such device'


def test_params_of_skips_none_and_private():
    import argparse
    ns = argparse.Namespace(name='M', uuid=None, flag=False, _server='/x', _func=print)
    assert rpc.params_of(ns) == {'name': 'M', 'flag': False}


def test_plugin_module_is_loaded_automatically():
    # Adding a command module = dropping one file in the package directory.
    tmp = tempfile.mkdtemp()
    with open(os.path.join(tmp, 'zz_example.py'), 'w') as f:
        f.write('from rpc import add_command\n'
                'def add_parser(subparsers):\n'
                '    p = add_command(subparsers, "example_create", "an example")\n'
                '    p.add_argument("name")\n'
                '    p.add_argument("-s", "--size", type=int)\n')
    with open(os.path.join(tmp, 'client.py'), 'w') as f:
        f.write('raise RuntimeError("client.py must not be loaded as a command module")\n')
    rpc.__path__.append(tmp)
    try:
        rc, out, err = run_inproc(['--dry-run', 'example_create', 'e0', '-s', '3'])
        assert rc == 0, err
        assert requests_of(out) == [{'jsonrpc': '2.0', 'method': 'example_create', 'id': 1,
                                     'params': {'name': 'e0', 'size': 3}}], out
    finally:
        rpc.__path__.remove(tmp)
        sys.modules.pop('rpc.zz_example', None)


def main():
    tests = [(n, f) for n, f in sorted(globals().items(), key=lambda kv: kv[0])
             if n.startswith('test_') and callable(f)]
    only = sys.argv[1:]
    passed = failed = 0
    for name, fn in tests:
        if only and not any(o in name for o in only):
            continue
        try:
            fn()
        except Exception as e:
            failed += 1
            detail = str(e) if isinstance(e, AssertionError) and str(e) else \
                traceback.format_exc()
            print('FAIL %s: %s' % (name, detail))
        else:
            passed += 1
            print('ok   %s' % name)
    print('%d passed, %d failed' % (passed, failed))
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())

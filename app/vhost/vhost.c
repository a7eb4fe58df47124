/* SPDX-License-Identifier: BSD-3-Clause */
/* vhost: the vhost target daemon: vhost-user-blk controllers over the bdev modules (APP_LIBS-vhost in mk/deps.mk). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "osprey/event.h"
#include "osprey/vhost.h"

static struct osp_app_opts g_opts;

static void
vhost_usage(void)
{
	printf(" -S, --socket-dir <dir>  directory for the controllers' vhost-user sockets (default: current)\n");
}

static int
vhost_parse(int ch, char *arg)
{
	if (ch != 'S') {
		return -EINVAL;
	}
	if (osp_vhost_set_socket_dir(arg) != 0) {
		fprintf(stderr, "vhost: socket directory '%s' is too long\n", arg);
		return -EINVAL;
	}
	return 0;
}

static void
tgt_started(void *ctx)
{
	(void)ctx;
	osp_app_print_ready();
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"socket-dir", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0},
	};
	int rc;

	osp_app_opts_init(&g_opts, sizeof(g_opts));
	g_opts.name = "vhost";
	rc = osp_app_parse_args(argc, argv, &g_opts, "S:", longopts, vhost_parse, vhost_usage);
	if (rc != OSP_APP_PARSE_ARGS_SUCCESS) {
		return rc == OSP_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	rc = osp_app_start(&g_opts, tgt_started, NULL);
	osp_app_fini();
	return rc == 0 ? 0 : 1;
}

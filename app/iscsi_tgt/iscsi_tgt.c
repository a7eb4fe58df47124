/* SPDX-License-Identifier: BSD-3-Clause */
/* iscsi_tgt: the iSCSI target daemon: the iSCSI target, the SCSI layer, the bdev modules and sockets (APP_LIBS-iscsi_tgt in mk/deps.mk), not the other targets osprey_tgt carries. */
#include <stdio.h>
#include <stdlib.h>

#include "osprey/event.h"

static struct osp_app_opts g_opts;

static void
tgt_started(void *ctx)
{
	(void)ctx;
	osp_app_print_ready();
}

int
main(int argc, char **argv)
{
	int rc;

	osp_app_opts_init(&g_opts, sizeof(g_opts));
	g_opts.name = "iscsi_tgt";
	rc = osp_app_parse_args(argc, argv, &g_opts, NULL, NULL, NULL, NULL);
	if (rc != OSP_APP_PARSE_ARGS_SUCCESS) {
		return rc == OSP_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	rc = osp_app_start(&g_opts, tgt_started, NULL);
	osp_app_fini();
	return rc == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
#include <stdio.h>
#include <stdlib.h>

#include "osprey/env.h"
#include "ut_env.h"

static int g_ut_env_done;

void
ut_env_init(void)
{
	struct osp_env_opts opts;

	if (g_ut_env_done) {
		return;
	}
	osp_env_opts_init(&opts);
	opts.name = "osprey_ut";
	opts.core_mask = "0x1";
	opts.mem_size_mb = 64;
	opts.no_huge = true;
	if (osp_env_init(&opts) != 0) {
		fprintf(stderr, "ut_env_init: osp_env_init failed\n");
		abort();
	}
	g_ut_env_done = 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* nvmf_tgt: the NVMe-oF target daemon (same libraries as osprey_tgt; its name and log prefix say nvmf_tgt). */
#include <stdio.h>
#include <stdlib.h>

#include "osprey/event.h"
#include "osprey/rpc.h"

static struct osp_app_opts g_opts;

/* Print what the configuration serves: one line per object it creates. */
static void
print_config(void *ctx, const cJSON *response)
{
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(response, "result"), "subsystems");
	const cJSON *sub, *call;
	int n = 0;

	cJSON_ArrayForEach(sub, subs) {
		const cJSON *name = cJSON_GetObjectItemCaseSensitive(sub, "subsystem");

		cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(sub, "config")) {
			const cJSON *method = cJSON_GetObjectItemCaseSensitive(call, "method");
			const cJSON *params = cJSON_GetObjectItemCaseSensitive(call, "params");
			const cJSON *what = cJSON_GetObjectItemCaseSensitive(params, "name");

			if (!cJSON_IsString(what)) {
				what = cJSON_GetObjectItemCaseSensitive(params, "nqn");
			}
			if (!cJSON_IsString(what)) {
				continue;	/* settings, not served objects */
			}
			printf("nvmf_tgt: serving %s: %s %s\n", name->valuestring,
			       method->valuestring, what->valuestring);
			n++;
		}
	}
	if (n == 0) {
		printf("nvmf_tgt: serving no devices yet; create them over RPC\n");
	}
	fflush(stdout);
}

static void
tgt_started(void *ctx)
{
	const char *addr = osp_rpc_get_listen_addr();

	printf("nvmf_tgt: ready, RPC socket %s\n", addr ? addr : "(disabled)");
	fflush(stdout);
	osp_rpc_call("save_config", NULL, print_config, NULL);
}

int
main(int argc, char **argv)
{
	int rc;

	osp_app_opts_init(&g_opts, sizeof(g_opts));
	g_opts.name = "nvmf_tgt";
	rc = osp_app_parse_args(argc, argv, &g_opts, NULL, NULL, NULL, NULL);
	if (rc != OSP_APP_PARSE_ARGS_SUCCESS) {
		return rc == OSP_APP_PARSE_ARGS_HELP ? 0 : 1;
	}
	rc = osp_app_start(&g_opts, tgt_started, NULL);
	osp_app_fini();
	return rc == 0 ? 0 : 1;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The start-up announcement daemons print once their configuration is
 * loaded: where the RPC socket is, and one line per object the
 * configuration serves (read back from save_config, so it is exactly what a
 * restart would rebuild). Tests and scripts wait for the "ready" line.
 */
#include <stdio.h>

#include "osprey/event.h"
#include "osprey/rpc.h"

static void
print_served(void *ctx, const cJSON *response)
{
	const char *name = osp_app_get_name();
	const cJSON *subs = cJSON_GetObjectItemCaseSensitive(
				    cJSON_GetObjectItemCaseSensitive(response, "result"), "subsystems");
	const cJSON *sub, *call;
	int n = 0;

	(void)ctx;
	cJSON_ArrayForEach(sub, subs) {
		const cJSON *sname = cJSON_GetObjectItemCaseSensitive(sub, "subsystem");

		cJSON_ArrayForEach(call, cJSON_GetObjectItemCaseSensitive(sub, "config")) {
			const cJSON *method = cJSON_GetObjectItemCaseSensitive(call, "method");
			const cJSON *params = cJSON_GetObjectItemCaseSensitive(call, "params");
			const cJSON *what = cJSON_GetObjectItemCaseSensitive(params, "name");

			if (!cJSON_IsString(what)) {
				what = cJSON_GetObjectItemCaseSensitive(params, "nqn");
			}
			if (!cJSON_IsString(what) || !cJSON_IsString(sname) ||
			    !cJSON_IsString(method)) {
				continue;	/* settings, not served objects */
			}
			printf("%s: serving %s: %s %s\n", name, sname->valuestring,
			       method->valuestring, what->valuestring);
			n++;
		}
	}
	if (n == 0) {
		printf("%s: serving no devices yet; create them over RPC\n", name);
	}
	fflush(stdout);
}

void
osp_app_print_ready(void)
{
	const char *addr = osp_rpc_get_listen_addr();

	printf("%s: ready, RPC socket %s\n", osp_app_get_name(), addr ? addr : "(disabled)");
	fflush(stdout);
	osp_rpc_call("save_config", NULL, print_served, NULL);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RPC method registry, state checks, the server's poller, in-process calls
 * and the built-in methods rpc_get_methods and spdk_get_version.
 *
 * Methods register from constructors, before main() and before logging is
 * configured; a bad registration (duplicate name) is logged and remembered,
 * and osp_rpc_listen() / osp_rpc_verify_methods() then fail, so the daemon
 * refuses to start instead of serving a half-broken method table.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/log.h"
#include "osprey/rpc.h"
#include "osprey/thread.h"

#ifndef OSP_VERSION_STRING
#define OSP_VERSION_STRING "0.0.0"
#endif

/*
 * 0: poll on every iteration of the app thread. The thread still sleeps
 * when idle: the poller reports IDLE and the sockets are wake fds.
 */
#define RPC_POLL_PERIOD_US	0
#define RPC_POLL_INTERVAL_US	1000

struct rpc_method {
	struct rpc_method *next;
	char *name;
	osp_rpc_method_handler func;
	uint32_t state_mask;
};

struct rpc_alias {
	struct rpc_alias *next;
	char *alias;
	char *method;
	bool warned;
};

static struct rpc_method *g_methods;
static struct rpc_method **g_methods_tail = &g_methods;
static struct rpc_alias *g_aliases;
static struct rpc_alias **g_aliases_tail = &g_aliases;
static bool g_rpcs_correct = true;
static uint32_t g_rpc_state = OSP_RPC_STARTUP;

static struct osp_jsonrpc_server *g_server;
static struct osp_poller *g_rpc_poller;
static char *g_listen_addr;

static struct rpc_method *
rpc_find_method(const char *name)
{
	struct rpc_method *m;

	for (m = g_methods; m != NULL; m = m->next) {
		if (strcmp(m->name, name) == 0) {
			return m;
		}
	}
	return NULL;
}

static struct rpc_alias *
rpc_find_alias(const char *name)
{
	struct rpc_alias *a;

	for (a = g_aliases; a != NULL; a = a->next) {
		if (strcmp(a->alias, name) == 0) {
			return a;
		}
	}
	return NULL;
}

/* The method called name, directly or through an alias (*alias set then). */
static struct rpc_method *
rpc_lookup(const char *name, struct rpc_alias **alias)
{
	struct rpc_method *m = rpc_find_method(name);
	struct rpc_alias *a;

	*alias = NULL;
	if (m != NULL) {
		return m;
	}
	a = rpc_find_alias(name);
	if (a == NULL) {
		return NULL;
	}
	*alias = a;
	return rpc_find_method(a->method);
}

void
osp_rpc_register_method(const char *method, osp_rpc_method_handler func, uint32_t state_mask)
{
	struct rpc_method *m;

	if (method == NULL || method[0] == '\0' || func == NULL) {
		OSP_ERRLOG("invalid RPC method registration\n");
		g_rpcs_correct = false;
		return;
	}
	if (rpc_find_method(method) != NULL || rpc_find_alias(method) != NULL) {
		OSP_ERRLOG("duplicate RPC method %s registered\n", method);
		g_rpcs_correct = false;
		return;
	}
	m = calloc(1, sizeof(*m));
	if (m == NULL || (m->name = strdup(method)) == NULL) {
		OSP_ERRLOG("out of memory registering RPC method %s\n", method);
		free(m);
		g_rpcs_correct = false;
		return;
	}
	m->func = func;
	m->state_mask = state_mask;
	*g_methods_tail = m;
	g_methods_tail = &m->next;
}

void
osp_rpc_register_alias_deprecated(const char *method, const char *alias)
{
	struct rpc_alias *a;

	if (method == NULL || alias == NULL || alias[0] == '\0') {
		OSP_ERRLOG("invalid RPC alias registration\n");
		g_rpcs_correct = false;
		return;
	}
	/* The method may register later (constructor order): checked at verify time. */
	if (rpc_find_method(alias) != NULL || rpc_find_alias(alias) != NULL) {
		OSP_ERRLOG("duplicate RPC method %s registered (alias of %s)\n", alias, method);
		g_rpcs_correct = false;
		return;
	}
	a = calloc(1, sizeof(*a));
	if (a == NULL || (a->alias = strdup(alias)) == NULL || (a->method = strdup(method)) == NULL) {
		OSP_ERRLOG("out of memory registering RPC alias %s\n", alias);
		if (a != NULL) {
			free(a->alias);
		}
		free(a);
		g_rpcs_correct = false;
		return;
	}
	*g_aliases_tail = a;
	g_aliases_tail = &a->next;
}

bool
osp_rpc_verify_methods(void)
{
	struct rpc_alias *a;
	bool ok = g_rpcs_correct;

	for (a = g_aliases; a != NULL; a = a->next) {
		if (rpc_find_method(a->method) == NULL) {
			OSP_ERRLOG("RPC alias %s names unknown method %s\n", a->alias, a->method);
			ok = false;
		}
	}
	return ok;
}

static bool
rpc_state_allows(const struct rpc_method *m, uint32_t state)
{
	return (m->state_mask & state) == state;
}

int
osp_rpc_is_method_allowed(const char *method, uint32_t state_mask)
{
	struct rpc_alias *alias;
	struct rpc_method *m;

	m = method != NULL ? rpc_lookup(method, &alias) : NULL;
	if (m == NULL) {
		return -ENOENT;
	}
	return rpc_state_allows(m, state_mask) ? 0 : -EPERM;
}

void
osp_rpc_set_state(uint32_t state)
{
	g_rpc_state = state;
}

uint32_t
osp_rpc_get_state(void)
{
	return g_rpc_state;
}

const char *
osp_rpc_get_first_method(uint32_t *state_mask)
{
	if (g_methods == NULL) {
		return NULL;
	}
	if (state_mask != NULL) {
		*state_mask = g_methods->state_mask;
	}
	return g_methods->name;
}

const char *
osp_rpc_get_next_method(const char *prev, uint32_t *state_mask)
{
	struct rpc_method *m;

	for (m = g_methods; m != NULL; m = m->next) {
		if (m->name == prev || strcmp(m->name, prev) == 0) {
			break;
		}
	}
	if (m == NULL || m->next == NULL) {
		return NULL;
	}
	m = m->next;
	if (state_mask != NULL) {
		*state_mask = m->state_mask;
	}
	return m->name;
}

static void
rpc_handle_request(struct osp_jsonrpc_request *request, const char *method,
		   const cJSON *params)
{
	struct rpc_alias *alias;
	struct rpc_method *m;

	m = rpc_lookup(method, &alias);
	if (m == NULL) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_METHOD_NOT_FOUND,
						"Method not found");
		return;
	}
	if (alias != NULL && !alias->warned) {
		OSP_WARNLOG("RPC method %s is deprecated. Use %s instead.\n", alias->alias,
			    alias->method);
		alias->warned = true;
	}
	if (!rpc_state_allows(m, g_rpc_state)) {
		if (g_rpc_state == OSP_RPC_STARTUP) {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_STATE,
							"Method may only be called after the framework is "
							"initialized (send framework_start_init first).");
		} else {
			osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_STATE,
							"Method may only be called at startup, before the "
							"framework is initialized: start with --wait-for-rpc "
							"and call it before framework_start_init.");
		}
		return;
	}
	m->func(request, params);
}

bool
osp_rpc_decode_params(struct osp_jsonrpc_request *request, const cJSON *params,
		      const struct osp_json_object_decoder *decoders, size_t num_decoders,
		      void *out)
{
	char err[256] = "";
	int rc;

	rc = osp_json_decode_object(params, decoders, num_decoders, out, err, sizeof(err));
	if (rc == 0) {
		return true;
	}
	/* Strings decoded before the failure are released (and NULLed). */
	osp_json_free_object(decoders, num_decoders, out);
	osp_jsonrpc_send_error_response(request, rc == -ENOMEM ? OSP_JSONRPC_ERROR_INTERNAL_ERROR :
					OSP_JSONRPC_ERROR_INVALID_PARAMS,
					err[0] != '\0' ? err : "Invalid parameters");
	return false;
}

int
osp_rpc_call(const char *method, const cJSON *params, osp_rpc_call_cb cb, void *cb_arg)
{
	return osp_jsonrpc_call_local(method, params, rpc_handle_request, cb, cb_arg);
}

/* ---- the server ---- */

static int
rpc_poll(void *ctx)
{
	static uint64_t next_poll;
	uint64_t now;
	int did;

	if (g_server == NULL) {
		return OSP_POLLER_IDLE;
	}
	/*
	 * The app thread may share its core with I/O: polling the sockets costs
	 * syscalls, so do it at most every RPC_POLL_INTERVAL_US unless the last
	 * poll found work (pipelined requests). An idle reactor sleeps on the
	 * sockets as wake fds, and its first poll after waking is always due.
	 */
	now = osp_thread_get_last_tsc(osp_get_thread());
	if (now < next_poll) {
		return OSP_POLLER_IDLE;
	}
	did = osp_jsonrpc_server_poll(g_server);
	next_poll = did > 0 ? 0 : now + RPC_POLL_INTERVAL_US * osp_get_ticks_hz() / 1000000;
	return did > 0 ? OSP_POLLER_BUSY : OSP_POLLER_IDLE;
}

int
osp_rpc_listen(const char *listen_addr)
{
	int rc;

	if (listen_addr == NULL || listen_addr[0] == '\0') {
		return -EINVAL;
	}
	if (g_server != NULL) {
		OSP_ERRLOG("RPC server already listening on %s\n", g_listen_addr);
		return -EBUSY;
	}
	if (!osp_rpc_verify_methods()) {
		OSP_ERRLOG("RPC methods were not registered correctly; not starting the RPC server\n");
		return -EINVAL;
	}
	g_listen_addr = strdup(listen_addr);
	if (g_listen_addr == NULL) {
		return -ENOMEM;
	}
	rc = osp_jsonrpc_server_listen_unix(listen_addr, rpc_handle_request, &g_server);
	if (rc != 0) {
		OSP_ERRLOG("cannot listen for RPC on %s: %s\n", listen_addr, strerror(-rc));
		goto err;
	}
	g_rpc_poller = osp_poller_register_named(rpc_poll, NULL, RPC_POLL_PERIOD_US, "rpc");
	if (g_rpc_poller == NULL) {
		OSP_ERRLOG("cannot register the RPC poller\n");
		osp_jsonrpc_server_shutdown(g_server);
		g_server = NULL;
		rc = -ENOMEM;
		goto err;
	}
	OSP_INFOLOG("RPC server listening on %s\n", listen_addr);
	return 0;
err:
	free(g_listen_addr);
	g_listen_addr = NULL;
	return rc;
}

void
osp_rpc_close(void)
{
	struct osp_jsonrpc_server *server = g_server;

	if (server == NULL) {
		return;
	}
	g_server = NULL;
	if (g_rpc_poller != NULL) {
		osp_poller_unregister(&g_rpc_poller);
	}
	osp_jsonrpc_server_shutdown(server);
	free(g_listen_addr);
	g_listen_addr = NULL;
}

const char *
osp_rpc_get_listen_addr(void)
{
	return g_listen_addr;
}

/* ---- built-in methods ---- */

struct rpc_get_methods_params {
	bool current;
	bool include_aliases;
};

static const struct osp_json_object_decoder g_get_methods_decoders[] = {
	{"current", offsetof(struct rpc_get_methods_params, current), osp_json_decode_bool, true},
	{"include_aliases", offsetof(struct rpc_get_methods_params, include_aliases),
	 osp_json_decode_bool, true},
};

static void
rpc_get_methods(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct rpc_get_methods_params p = {};
	struct rpc_method *m;
	struct rpc_alias *a;
	cJSON *names;

	if (!osp_rpc_decode_params(request, params, g_get_methods_decoders,
				   sizeof(g_get_methods_decoders) / sizeof(g_get_methods_decoders[0]),
				   &p)) {
		return;
	}
	names = cJSON_CreateArray();
	if (names == NULL) {
		goto nomem;
	}
	for (m = g_methods; m != NULL; m = m->next) {
		if (p.current && !rpc_state_allows(m, g_rpc_state)) {
			continue;
		}
		if (!cJSON_AddItemToArray(names, cJSON_CreateString(m->name))) {
			goto nomem;
		}
	}
	if (p.include_aliases) {
		for (a = g_aliases; a != NULL; a = a->next) {
			m = rpc_find_method(a->method);
			if (m == NULL || (p.current && !rpc_state_allows(m, g_rpc_state))) {
				continue;
			}
			if (!cJSON_AddItemToArray(names, cJSON_CreateString(a->alias))) {
				goto nomem;
			}
		}
	}
	osp_jsonrpc_send_result(request, names);
	return;
nomem:
	cJSON_Delete(names);
	osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR, "Out of memory");
}
OSP_RPC_REGISTER("rpc_get_methods", rpc_get_methods, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

/* "MAJOR.MINOR.PATCH[SUFFIX]" into its fields; missing numbers are 0. */
static void
rpc_parse_version(const char *str, unsigned long fields[3], const char **suffix)
{
	char *end;
	int i;

	fields[0] = fields[1] = fields[2] = 0;
	for (i = 0; i < 3; i++) {
		if (*str < '0' || *str > '9') {
			break;
		}
		fields[i] = strtoul(str, &end, 10);
		str = end;
		if (i < 2 && *str == '.') {
			str++;
		} else {
			break;
		}
	}
	*suffix = str;
}

static void
rpc_spdk_get_version(struct osp_jsonrpc_request *request, const cJSON *params)
{
	unsigned long fields[3];
	const char *suffix;
	cJSON *res, *f;

	if (params != NULL && cJSON_GetArraySize(params) > 0) {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						"spdk_get_version method requires no parameters");
		return;
	}
	rpc_parse_version(OSP_VERSION_STRING, fields, &suffix);
	res = cJSON_CreateObject();
	if (res == NULL ||
	    osp_json_add_string_fmt(res, "version", "Osprey v%s", OSP_VERSION_STRING) == NULL ||
	    (f = cJSON_AddObjectToObject(res, "fields")) == NULL ||
	    cJSON_AddNumberToObject(f, "major", (double)fields[0]) == NULL ||
	    cJSON_AddNumberToObject(f, "minor", (double)fields[1]) == NULL ||
	    cJSON_AddNumberToObject(f, "patch", (double)fields[2]) == NULL ||
	    cJSON_AddStringToObject(f, "suffix", suffix) == NULL) {
		cJSON_Delete(res);
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_INTERNAL_ERROR,
						"Out of memory");
		return;
	}
	osp_jsonrpc_send_result(request, res);
}
OSP_RPC_REGISTER("spdk_get_version", rpc_spdk_get_version, OSP_RPC_STARTUP | OSP_RPC_RUNTIME)

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/rpc: the method registry and state checks, parameter
 * decoding errors, the built-in methods, in-process calls, and the server
 * over a real Unix socket with its poller on a test thread.
 */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "rpc/rpc.c"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"

/* ---- test methods ---- */

struct create_params {
	char *name;
	uint32_t block_size;
	uint64_t num_blocks;
	bool verbose;
};

static const struct osp_json_object_decoder g_create_decoders[] = {
	{"name", offsetof(struct create_params, name), osp_json_decode_string},
	{"block_size", offsetof(struct create_params, block_size), osp_json_decode_uint32},
	{"num_blocks", offsetof(struct create_params, num_blocks), osp_json_decode_uint64},
	{"verbose", offsetof(struct create_params, verbose), osp_json_decode_bool, true},
};
#define NUM_CREATE_DECODERS (sizeof(g_create_decoders) / sizeof(g_create_decoders[0]))

static void
ut_create(struct osp_jsonrpc_request *request, const cJSON *params)
{
	struct create_params p = {};
	cJSON *res;

	if (!osp_rpc_decode_params(request, params, g_create_decoders, NUM_CREATE_DECODERS, &p)) {
		CU_ASSERT(p.name == NULL);
		return;
	}
	res = cJSON_CreateObject();
	cJSON_AddStringToObject(res, "name", p.name);
	osp_json_add_uint64(res, "bytes", p.num_blocks * p.block_size);
	osp_json_free_object(g_create_decoders, NUM_CREATE_DECODERS, &p);
	osp_jsonrpc_send_result(request, res);
}

static void
ut_startup_only(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_jsonrpc_send_bool_response(request, true);
}

static void
ut_runtime_only(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_jsonrpc_send_bool_response(request, true);
}

static void
ut_answer_later_msg(void *ctx)
{
	osp_jsonrpc_send_result(ctx, cJSON_CreateString("later"));
}

/* Answers from a message on the same thread, after the handler returned. */
static void
ut_async(struct osp_jsonrpc_request *request, const cJSON *params)
{
	CU_ASSERT(osp_thread_send_msg(osp_get_thread(), ut_answer_later_msg, request) == 0);
}

/* Stops the server from inside a handler. */
static void
ut_close_rpc(struct osp_jsonrpc_request *request, const cJSON *params)
{
	osp_rpc_close();
	osp_jsonrpc_send_bool_response(request, true);
}

static void
register_test_methods(void)
{
	osp_rpc_register_method("ut_create", ut_create, OSP_RPC_STARTUP | OSP_RPC_RUNTIME);
	osp_rpc_register_method("ut_startup_only", ut_startup_only, OSP_RPC_STARTUP);
	osp_rpc_register_method("ut_runtime_only", ut_runtime_only, OSP_RPC_RUNTIME);
	osp_rpc_register_method("ut_async", ut_async, OSP_RPC_STARTUP | OSP_RPC_RUNTIME);
	osp_rpc_register_method("ut_close_rpc", ut_close_rpc, OSP_RPC_STARTUP | OSP_RPC_RUNTIME);
	osp_rpc_register_alias_deprecated("ut_create", "ut_construct");
}

/* ---- in-process calls ---- */

static cJSON *g_resp;
static int g_cb_count;

static void
call_cb(void *arg, const cJSON *resp)
{
	g_cb_count++;
	CU_ASSERT(arg == &g_cb_count);
	cJSON_Delete(g_resp);
	g_resp = cJSON_Duplicate(resp, 1);
}

/* Call method with params given as JSON text (or NULL); the answer is in g_resp. */
static const cJSON *
call(const char *method, const char *params_text)
{
	cJSON *params = params_text != NULL ? cJSON_Parse(params_text) : NULL;
	int before = g_cb_count;

	CU_ASSERT(params_text == NULL || params != NULL);
	CU_ASSERT(osp_rpc_call(method, params, call_cb, &g_cb_count) == 0);
	cJSON_Delete(params);
	CU_ASSERT(g_cb_count == before + 1);
	return g_resp;
}

static int
resp_code(const cJSON *resp)
{
	const cJSON *err = cJSON_GetObjectItem(resp, "error");

	return err != NULL ? (int)cJSON_GetObjectItem(err, "code")->valuedouble : 0;
}

static const char *
resp_message(const cJSON *resp)
{
	const cJSON *err = cJSON_GetObjectItem(resp, "error");

	return err != NULL ? cJSON_GetObjectItem(err, "message")->valuestring : "";
}

static const cJSON *
resp_result(const cJSON *resp)
{
	return cJSON_GetObjectItem(resp, "result");
}

static bool
array_has(const cJSON *arr, const char *name)
{
	const cJSON *e;

	cJSON_ArrayForEach(e, arr) {
		if (strcmp(e->valuestring, name) == 0) {
			return true;
		}
	}
	return false;
}

static void
test_registry(void)
{
	const char *name;
	uint32_t mask = 0;
	int count = 0;
	bool seen_version = false, seen_create = false;

	CU_ASSERT(osp_rpc_verify_methods());
	for (name = osp_rpc_get_first_method(&mask); name != NULL;
	     name = osp_rpc_get_next_method(name, &mask)) {
		count++;
		if (strcmp(name, "spdk_get_version") == 0) {
			seen_version = true;
			CU_ASSERT(mask == (OSP_RPC_STARTUP | OSP_RPC_RUNTIME));
		}
		if (strcmp(name, "ut_create") == 0) {
			seen_create = true;
		}
		/* Aliases are not methods. */
		CU_ASSERT(strcmp(name, "ut_construct") != 0);
	}
	CU_ASSERT(seen_version && seen_create && count == 7);
	CU_ASSERT(osp_rpc_get_next_method("no_such_method", &mask) == NULL);

	CU_ASSERT(osp_rpc_is_method_allowed("ut_startup_only", OSP_RPC_STARTUP) == 0);
	CU_ASSERT(osp_rpc_is_method_allowed("ut_startup_only", OSP_RPC_RUNTIME) == -EPERM);
	CU_ASSERT(osp_rpc_is_method_allowed("ut_runtime_only", OSP_RPC_STARTUP) == -EPERM);
	CU_ASSERT(osp_rpc_is_method_allowed("ut_runtime_only", OSP_RPC_RUNTIME) == 0);
	CU_ASSERT(osp_rpc_is_method_allowed("ut_construct", OSP_RPC_RUNTIME) == 0);
	CU_ASSERT(osp_rpc_is_method_allowed("nope", OSP_RPC_RUNTIME) == -ENOENT);
	CU_ASSERT(osp_rpc_is_method_allowed(NULL, OSP_RPC_RUNTIME) == -ENOENT);

	CU_ASSERT(osp_rpc_get_state() == OSP_RPC_STARTUP);
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	CU_ASSERT(osp_rpc_get_state() == OSP_RPC_RUNTIME);
	osp_rpc_set_state(OSP_RPC_STARTUP);
}

static void
test_bad_registrations(void)
{
	struct rpc_alias *a;

	/* Duplicates (of a method or an alias) and a dangling alias make verify fail. */
	osp_rpc_register_method("ut_create", ut_startup_only, OSP_RPC_RUNTIME);
	CU_ASSERT(!osp_rpc_verify_methods());
	CU_ASSERT(osp_rpc_listen("/tmp/osp_rpc_ut_never.sock") == -EINVAL);
	CU_ASSERT(access("/tmp/osp_rpc_ut_never.sock", F_OK) != 0);
	g_rpcs_correct = true;
	osp_rpc_register_alias_deprecated("spdk_get_version", "ut_construct");
	CU_ASSERT(!osp_rpc_verify_methods());
	g_rpcs_correct = true;
	osp_rpc_register_method(NULL, ut_startup_only, OSP_RPC_RUNTIME);
	CU_ASSERT(!osp_rpc_verify_methods());
	g_rpcs_correct = true;
	CU_ASSERT(osp_rpc_verify_methods());

	osp_rpc_register_alias_deprecated("ut_no_such_method", "ut_dangling");
	CU_ASSERT(!osp_rpc_verify_methods());
	/* Drop it again (it is last) so the other tests see a sane table. */
	for (g_aliases_tail = &g_aliases; (a = *g_aliases_tail)->next != NULL;
	     g_aliases_tail = &a->next) {
	}
	CU_ASSERT(strcmp(a->alias, "ut_dangling") == 0);
	*g_aliases_tail = NULL;
	free(a->alias);
	free(a->method);
	free(a);
	CU_ASSERT(osp_rpc_verify_methods());
	/* The failed duplicate did not replace the original handler. */
	osp_rpc_set_state(OSP_RPC_STARTUP);
	CU_ASSERT(resp_code(call("ut_create", "{}")) == OSP_JSONRPC_ERROR_INVALID_PARAMS);
}

static void
test_call_errors(void)
{
	const cJSON *r;

	osp_rpc_set_state(OSP_RPC_STARTUP);
	r = call("ut_nonexistent", NULL);
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_METHOD_NOT_FOUND);
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Method not found");
	CU_ASSERT(cJSON_IsNumber(cJSON_GetObjectItem(r, "id")));
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(r, "jsonrpc")->valuestring, "2.0");

	/* State checks, both ways. */
	r = call("ut_runtime_only", NULL);
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_STATE);
	CU_ASSERT(strncmp(resp_message(r), "Method may only be called after the framework is "
			  "initialized", 60) == 0);
	r = call("ut_startup_only", NULL);
	CU_ASSERT(cJSON_IsTrue(resp_result(r)));
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	r = call("ut_startup_only", NULL);
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_STATE);
	CU_ASSERT(strncmp(resp_message(r), "Method may only be called at startup", 36) == 0);
	CU_ASSERT(strstr(resp_message(r), "--wait-for-rpc") != NULL);
	r = call("ut_runtime_only", NULL);
	CU_ASSERT(cJSON_IsTrue(resp_result(r)));

	/* Parameter errors name the parameter. */
	r = call("ut_create", "{\"name\":\"Malloc0\",\"block_size\":4096,\"num_blocks\":16}");
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(resp_result(r), "name")->valuestring, "Malloc0");
	CU_ASSERT(cJSON_GetObjectItem(resp_result(r), "bytes")->valuedouble == 65536);
	r = call("ut_create", "{\"name\":\"Malloc0\",\"block_size\":-1,\"num_blocks\":16}");
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Invalid parameter 'block_size': expected uint32");
	r = call("ut_create", "{\"name\":\"Malloc0\",\"block_size\":4096}");
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Missing parameter 'num_blocks'");
	r = call("ut_create", NULL);
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Missing parameter 'name'");
	r = call("ut_create", "{\"name\":\"M\",\"block_size\":1,\"num_blocks\":1,\"foo\":1}");
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Unknown parameter 'foo'");
	r = call("ut_create", "{\"name\":\"M\",\"block_size\":1,\"num_blocks\":1.5}");
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Invalid parameter 'num_blocks': expected uint64");
	r = call("ut_create", "[\"M\",1,1]");
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Invalid parameters: expected an object");
	r = call("ut_create", "\"M\"");
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_REQUEST);

	/* A deprecated alias reaches its method. */
	r = call("ut_construct", "{\"name\":\"A\",\"block_size\":512,\"num_blocks\":2}");
	CU_ASSERT(cJSON_GetObjectItem(resp_result(r), "bytes")->valuedouble == 1024);
	r = call("ut_construct", "{\"name\":\"A\",\"block_size\":512,\"num_blocks\":2}");
	CU_ASSERT(rpc_find_alias("ut_construct")->warned);
	osp_rpc_set_state(OSP_RPC_STARTUP);
}

static void
test_rpc_get_methods(void)
{
	const cJSON *r;

	osp_rpc_set_state(OSP_RPC_STARTUP);
	r = call("rpc_get_methods", NULL);
	CU_ASSERT(cJSON_GetArraySize(resp_result(r)) == 7);
	CU_ASSERT(array_has(resp_result(r), "rpc_get_methods"));
	CU_ASSERT(array_has(resp_result(r), "ut_runtime_only"));
	CU_ASSERT(!array_has(resp_result(r), "ut_construct"));
	/* Registration order is kept. */
	CU_ASSERT_STRING_EQUAL(cJSON_GetArrayItem(resp_result(r), 0)->valuestring, g_methods->name);

	r = call("rpc_get_methods", "{\"current\":true}");
	CU_ASSERT(cJSON_GetArraySize(resp_result(r)) == 6);
	CU_ASSERT(!array_has(resp_result(r), "ut_runtime_only"));
	CU_ASSERT(array_has(resp_result(r), "ut_startup_only"));
	osp_rpc_set_state(OSP_RPC_RUNTIME);
	r = call("rpc_get_methods", "{\"current\":true,\"include_aliases\":true}");
	CU_ASSERT(cJSON_GetArraySize(resp_result(r)) == 7);
	CU_ASSERT(!array_has(resp_result(r), "ut_startup_only"));
	CU_ASSERT(array_has(resp_result(r), "ut_construct"));
	r = call("rpc_get_methods", "{\"include_aliases\":true}");
	CU_ASSERT(cJSON_GetArraySize(resp_result(r)) == 8);
	osp_rpc_set_state(OSP_RPC_STARTUP);

	r = call("rpc_get_methods", "{\"current\":1}");
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_PARAMS);
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Invalid parameter 'current': expected bool");
	r = call("rpc_get_methods", "{\"all\":true}");
	CU_ASSERT_STRING_EQUAL(resp_message(r), "Unknown parameter 'all'");
}

static void
test_spdk_get_version(void)
{
	unsigned long f[3];
	const char *suffix;
	const cJSON *r, *fields;
	char expected[64];

	r = call("spdk_get_version", NULL);
	snprintf(expected, sizeof(expected), "Osprey v%s", OSP_VERSION_STRING);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(resp_result(r), "version")->valuestring, expected);
	fields = cJSON_GetObjectItem(resp_result(r), "fields");
	rpc_parse_version(OSP_VERSION_STRING, f, &suffix);
	CU_ASSERT(cJSON_GetObjectItem(fields, "major")->valuedouble == f[0]);
	CU_ASSERT(cJSON_GetObjectItem(fields, "minor")->valuedouble == f[1]);
	CU_ASSERT(cJSON_GetObjectItem(fields, "patch")->valuedouble == f[2]);
	CU_ASSERT_STRING_EQUAL(cJSON_GetObjectItem(fields, "suffix")->valuestring, suffix);
	CU_ASSERT(cJSON_GetArraySize(resp_result(r)) == 2 && cJSON_GetArraySize(fields) == 4);
	/* Empty params are fine, real ones are not. */
	r = call("spdk_get_version", "{}");
	CU_ASSERT(resp_code(r) == 0);
	r = call("spdk_get_version", "{\"x\":1}");
	CU_ASSERT(resp_code(r) == OSP_JSONRPC_ERROR_INVALID_PARAMS);

	rpc_parse_version("0.1.0", f, &suffix);
	CU_ASSERT(f[0] == 0 && f[1] == 1 && f[2] == 0 && strcmp(suffix, "") == 0);
	rpc_parse_version("24.01.1-pre", f, &suffix);
	CU_ASSERT(f[0] == 24 && f[1] == 1 && f[2] == 1 && strcmp(suffix, "-pre") == 0);
	rpc_parse_version("2.5", f, &suffix);
	CU_ASSERT(f[0] == 2 && f[1] == 5 && f[2] == 0 && strcmp(suffix, "") == 0);
	rpc_parse_version("dev", f, &suffix);
	CU_ASSERT(f[0] == 0 && f[1] == 0 && f[2] == 0 && strcmp(suffix, "dev") == 0);
}

/* ---- the socket server on a test thread ---- */

static char g_dir[] = "/tmp/osp_rpc_ut_XXXXXX";
static char g_path[100];

static int
suite_socket_init(void)
{
	ut_env_init();
	if (ut_allocate_threads(1) != 0 || mkdtemp(g_dir) == NULL) {
		return -1;
	}
	snprintf(g_path, sizeof(g_path), "%s/rpc.sock", g_dir);
	ut_set_thread(0);
	return 0;
}

static int
suite_socket_fini(void)
{
	ut_set_thread(-1);
	ut_free_threads();
	rmdir(g_dir);
	return 0;
}

static int
client_connect(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send text and poll the threads until n answer lines (or EOF) arrive. */
static char *
roundtrip(int fd, const char *text, int n, bool *eof)
{
	size_t len = 0, cap = 65536;
	char *buf = malloc(cap);
	int lines = 0, spins;
	ssize_t r;

	*eof = false;
	if (text != NULL) {
		CU_ASSERT(send(fd, text, strlen(text), 0) == (ssize_t)strlen(text));
	}
	for (spins = 0; spins < 100000; spins++) {
		ut_poll_threads();
		r = recv(fd, buf + len, cap - len - 1, MSG_DONTWAIT);
		if (r > 0) {
			size_t i;

			for (i = len; i < len + (size_t)r; i++) {
				lines += buf[i] == '\n';
			}
			len += (size_t)r;
			if (n > 0 && lines >= n) {
				break;
			}
		} else if (r == 0 || errno != EAGAIN) {
			*eof = true;
			break;
		}
	}
	buf[len] = '\0';
	return buf;
}

static int
interrupt_events(void)
{
	struct epoll_event ev[8];

	return epoll_wait(osp_thread_get_interrupt_fd(ut_thread(0)), ev, 8, 0);
}

static void
test_socket_server(void)
{
	struct stat st;
	cJSON *resp;
	char *out;
	bool eof;
	int fd, fd2;

	osp_rpc_set_state(OSP_RPC_STARTUP);
	CU_ASSERT(osp_rpc_get_listen_addr() == NULL);
	CU_ASSERT(osp_rpc_listen(g_path) == 0);
	CU_ASSERT_STRING_EQUAL(osp_rpc_get_listen_addr(), g_path);
	CU_ASSERT(osp_rpc_listen(g_path) == -EBUSY);
	CU_ASSERT(stat(g_path, &st) == 0 && (st.st_mode & 0777) == 0600);
	CU_ASSERT(osp_thread_has_active_pollers(ut_thread(0)) == 1);
	ut_poll_threads();
	CU_ASSERT(interrupt_events() == 0);

	fd = client_connect(g_path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(interrupt_events() > 0);
	out = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"spdk_get_version\",\"id\":1}", 1, &eof);
	resp = cJSON_Parse(out);
	CU_ASSERT(resp != NULL && cJSON_GetObjectItem(resp, "id")->valuedouble == 1);
	CU_ASSERT(strncmp(cJSON_GetObjectItem(resp_result(resp), "version")->valuestring,
			  "Osprey v", 8) == 0);
	cJSON_Delete(resp);
	free(out);
	/* Idle again: nothing left to wake the thread. */
	ut_poll_threads();
	CU_ASSERT(interrupt_events() == 0);

	/* Every error code over the wire, pipelined, with an asynchronous answer first. */
	out = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":\"a\"}"
			"{\"jsonrpc\":\"2.0\",\"method\":\"nope\",\"id\":2}"
			"{\"jsonrpc\":\"2.0\",\"method\":\"ut_runtime_only\",\"id\":3}"
			"{\"jsonrpc\":\"2.0\",\"method\":\"ut_create\",\"id\":4,\"params\":{\"name\":5}}"
			"{\"jsonrpc\":\"2.0\",\"method\":5,\"id\":5}"
			"[{\"jsonrpc\":\"2.0\",\"method\":\"rpc_get_methods\",\"id\":6,"
			"\"params\":{\"current\":true}},{\"jsonrpc\":\"2.0\",\"method\":\"nope\"}]", 6, &eof);
	CU_ASSERT_STRING_EQUAL(out,
			       "{\"jsonrpc\":\"2.0\",\"id\":\"a\",\"result\":\"later\"}\n"
			       "{\"jsonrpc\":\"2.0\",\"id\":2,\"error\":{\"code\":-32601,\"message\":\"Method not found\"}}\n"
			       "{\"jsonrpc\":\"2.0\",\"id\":3,\"error\":{\"code\":-1,\"message\":\"Method may only be called after "
			       "the framework is initialized (send framework_start_init first).\"}}\n"
			       "{\"jsonrpc\":\"2.0\",\"id\":4,\"error\":{\"code\":-32602,\"message\":\"Invalid parameter 'name': "
			       "expected string\"}}\n"
			       "{\"jsonrpc\":\"2.0\",\"id\":5,\"error\":{\"code\":-32600,\"message\":\"Invalid request: method must "
			       "be a string\"}}\n"
			       "[{\"jsonrpc\":\"2.0\",\"id\":6,\"result\":[\"rpc_get_methods\",\"spdk_get_version\",\"ut_create\","
			       "\"ut_startup_only\",\"ut_async\",\"ut_close_rpc\"]}]\n");
	free(out);

	/* A second client is served alongside; then a parse error closes only it. */
	fd2 = client_connect(g_path);
	CU_ASSERT_FATAL(fd2 >= 0);
	out = roundtrip(fd2, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_startup_only\",\"id\":1}", 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":true}\n");
	free(out);
	out = roundtrip(fd2, "{\"jsonrpc\":\"2.0\",,}", 0, &eof);
	CU_ASSERT_STRING_EQUAL(out, "{\"jsonrpc\":\"2.0\",\"id\":null,\"error\":{\"code\":-32700,"
			       "\"message\":\"Parse error\"}}\n");
	CU_ASSERT(eof);
	free(out);
	close(fd2);
	out = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_startup_only\",\"id\":7}", 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, "{\"jsonrpc\":\"2.0\",\"id\":7,\"result\":true}\n");
	free(out);

	/* An asynchronous request whose client leaves before the answer. */
	fd2 = client_connect(g_path);
	CU_ASSERT(send(fd2, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_async\",\"id\":1}", 44, 0) == 44);
	ut_poll_thread(0);	/* reads and dispatches; the answer is a queued message */
	close(fd2);
	ut_poll_threads();

	/* The server stopped from inside a handler: answered, closed, file removed. */
	out = roundtrip(fd, "{\"jsonrpc\":\"2.0\",\"method\":\"ut_close_rpc\",\"id\":8}", 0, &eof);
	CU_ASSERT(strncmp(out, "{\"jsonrpc\":\"2.0\",\"id\":8,\"result\":true}\n", 40) == 0 || out[0] == '\0');
	CU_ASSERT(eof);
	free(out);
	close(fd);
	CU_ASSERT(osp_rpc_get_listen_addr() == NULL);
	CU_ASSERT(access(g_path, F_OK) != 0);
	CU_ASSERT(osp_thread_has_active_pollers(ut_thread(0)) == 0);
	ut_poll_threads();

	/* Listening again on the same path works, and close is idempotent. */
	CU_ASSERT(osp_rpc_listen(g_path) == 0);
	osp_rpc_close();
	osp_rpc_close();
	CU_ASSERT(access(g_path, F_OK) != 0);
	CU_ASSERT(osp_rpc_listen("") == -EINVAL);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	register_test_methods();
	CU_initialize_registry();
	suite = CU_add_suite("rpc", NULL, NULL);
	CU_ADD_TEST(suite, test_registry);
	CU_ADD_TEST(suite, test_bad_registrations);
	CU_ADD_TEST(suite, test_call_errors);
	CU_ADD_TEST(suite, test_rpc_get_methods);
	CU_ADD_TEST(suite, test_spdk_get_version);
	suite = CU_add_suite("rpc_socket", suite_socket_init, suite_socket_fini);
	CU_ADD_TEST(suite, test_socket_server);
	rc = ut_run_suites();
	cJSON_Delete(g_resp);
	return rc;
}

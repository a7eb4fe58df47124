/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of lib/jsonrpc: framing, validation, batches, ordering and
 * asynchronous answers on hand-fed connections (no sockets), then the same
 * server over real sockets polled from a test osp_thread.
 */
#include <CUnit/Basic.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>

#include "jsonrpc/jsonrpc_server.c"
#include "jsonrpc/jsonrpc_server_unix.c"
#include "osprey/util.h"

#include "ut_env.h"
#include "ut_thread.h"
#include "ut_run.h"

static struct osp_jsonrpc_server *g_srv;
static struct jsonrpc_conn *g_conn;
static int g_calls;
static int g_notifications;
static char g_last_method[64];
static struct osp_jsonrpc_request *g_deferred[64];
static int g_num_deferred;

/*
 * Methods of the test handler:
 *   echo      result = params (true without params)
 *   defer     answered later by the test (g_deferred)
 *   fail      -32602 naming a parameter
 *   shutdown  shuts the server down from inside the handler
 *   big       result is a string of params.size bytes
 *   anything else: -32601
 */
static void
test_handler(struct osp_jsonrpc_request *request, const char *method, const cJSON *params)
{
	g_calls++;
	snprintf(g_last_method, sizeof(g_last_method), "%s", method);
	CU_ASSERT(strcmp(osp_jsonrpc_request_get_method(request), method) == 0);
	if (request->unit == NULL) {
		g_notifications++;
	}
	if (strcmp(method, "echo") == 0) {
		osp_jsonrpc_send_result(request, params != NULL ? cJSON_Duplicate(params, 1) : NULL);
	} else if (strcmp(method, "defer") == 0) {
		CU_ASSERT_FATAL(g_num_deferred < 64);
		g_deferred[g_num_deferred++] = request;
	} else if (strcmp(method, "fail") == 0) {
		osp_jsonrpc_send_error_response_fmt(request, OSP_JSONRPC_ERROR_INVALID_PARAMS,
						    "Invalid parameter '%s': expected uint32",
						    "block_size");
	} else if (strcmp(method, "shutdown") == 0) {
		osp_jsonrpc_server_shutdown(g_srv);
		osp_jsonrpc_send_bool_response(request, true);
	} else if (strcmp(method, "big") == 0) {
		size_t size = (size_t)cJSON_GetObjectItem(params, "size")->valuedouble;
		char *s = malloc(size + 1);

		memset(s, 'x', size);
		s[size] = '\0';
		osp_jsonrpc_send_result(request, cJSON_CreateString(s));
		free(s);
	} else {
		osp_jsonrpc_send_error_response(request, OSP_JSONRPC_ERROR_METHOD_NOT_FOUND,
						"Method not found");
	}
}

static void
setup(void)
{
	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(g_srv != NULL);
	g_conn = jsonrpc_conn_create(g_srv, -1);
	CU_ASSERT_FATAL(g_conn != NULL);
	g_calls = g_notifications = g_num_deferred = 0;
	g_last_method[0] = '\0';
}

static void
teardown(void)
{
	if (g_srv != NULL) {
		osp_jsonrpc_server_shutdown(g_srv);
	}
	g_srv = NULL;
	g_conn = NULL;
}

static void
feed_n(const char *s, size_t len)
{
	CU_ASSERT(jsonrpc_conn_feed(g_conn, s, len) == 0);
}

static void
feed(const char *s)
{
	feed_n(s, strlen(s));
}

/* Pending output of conn as a malloc'd string; clears it. */
static char *
take_output_of(struct jsonrpc_conn *conn)
{
	size_t len = conn->send_len - conn->send_off;
	char *s = malloc(len + 1);

	memcpy(s, conn->send_buf + conn->send_off, len);
	s[len] = '\0';
	conn->send_off = conn->send_len = 0;
	return s;
}

static bool
output_is(const char *expected)
{
	char *s = take_output_of(g_conn);
	bool ok = strcmp(s, expected) == 0;

	if (!ok) {
		fprintf(stderr, "\n  expected: %s\n  got:      %s\n", expected, s);
	}
	free(s);
	return ok;
}

#define REQ(method, id) "{\"jsonrpc\":\"2.0\",\"method\":\"" method "\",\"id\":" id "}"
#define RES_TRUE(id) "{\"jsonrpc\":\"2.0\",\"id\":" id ",\"result\":true}"
#define ERR(id, code, msg) \
	"{\"jsonrpc\":\"2.0\",\"id\":" id ",\"error\":{\"code\":" code ",\"message\":\"" msg "\"}}"

/* ---- hand-fed connections ---- */

static void
test_single(void)
{
	setup();
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":{\"a\":[1,\"x\"]},\"id\":1}");
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(output_is("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"a\":[1,\"x\"]}}\n"));
	/* No params: handler sees NULL and answers true. Member order does not matter. */
	feed("{\"id\":2,\"method\":\"echo\",\"jsonrpc\":\"2.0\"}");
	CU_ASSERT(output_is(RES_TRUE("2") "\n"));
	/* "params": null is no params; positional params are passed through. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":null,\"id\":3}");
	CU_ASSERT(output_is(RES_TRUE("3") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1,2],\"id\":4}");
	CU_ASSERT(output_is("{\"jsonrpc\":\"2.0\",\"id\":4,\"result\":[1,2]}\n"));
	/* Whitespace around values, and CR/LF/tab between them. */
	feed(" \r\n\t" REQ("echo", "5") "\n\n");
	CU_ASSERT(output_is(RES_TRUE("5") "\n"));
	CU_ASSERT(!g_conn->closing);
	CU_ASSERT(g_conn->recv_len == 0);
	/* A large request's buffer is not kept once it is handled. */
	{
		size_t n = 1 << 20;
		char *big = malloc(n + 100);

		n = (size_t)sprintf(big, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":6,"
				    "\"params\":{\"s\":\"");
		memset(big + n, 'z', 1 << 20);
		strcpy(big + n + (1 << 20), "\"}}");
		feed(big);
		free(big);
		CU_ASSERT(g_calls == 6);
		CU_ASSERT(g_conn->recv_cap == 0 && g_conn->recv_buf == NULL);
		free(take_output_of(g_conn));
	}
	teardown();
}

static void
test_split_every_byte(void)
{
	/* Strings with brackets, escaped quotes and backslashes stress the scanner. */
	const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":\"a}]\\\"{[\\\\\","
			   "\"params\":{\"s\":\"}}]]\\\\\\\"\",\"n\":[[{}],[]]}}";
	const char expected[] = "{\"jsonrpc\":\"2.0\",\"id\":\"a}]\\\"{[\\\\\",\"result\":"
				"{\"s\":\"}}]]\\\\\\\"\",\"n\":[[{}],[]]}}\n";
	size_t len = strlen(req), k;

	for (k = 1; k < len; k++) {
		setup();
		feed_n(req, k);
		CU_ASSERT(g_calls == 0);
		CU_ASSERT(g_conn->send_len == 0);
		feed_n(req + k, len - k);
		CU_ASSERT(g_calls == 1);
		CU_ASSERT(output_is(expected));
		teardown();
	}

	/* One byte at a time, three requests back to back. */
	setup();
	for (k = 0; k < 3; k++) {
		size_t i;

		for (i = 0; i < len; i++) {
			feed_n(req + i, 1);
		}
	}
	CU_ASSERT(g_calls == 3);
	CU_ASSERT(output_is("{\"jsonrpc\":\"2.0\",\"id\":\"a}]\\\"{[\\\\\",\"result\":"
			    "{\"s\":\"}}]]\\\\\\\"\",\"n\":[[{}],[]]}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":\"a}]\\\"{[\\\\\",\"result\":"
			    "{\"s\":\"}}]]\\\\\\\"\",\"n\":[[{}],[]]}}\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":\"a}]\\\"{[\\\\\",\"result\":"
			    "{\"s\":\"}}]]\\\\\\\"\",\"n\":[[{}],[]]}}\n"));
	teardown();
}

static void
test_pipelined(void)
{
	setup();
	/* No separator at all, then newline-delimited, then a batch, in one read. */
	feed(REQ("echo", "1") REQ("nosuch", "2") "\n" REQ("echo", "3") "[" REQ("echo", "4") "]");
	CU_ASSERT(g_calls == 4);
	CU_ASSERT(output_is(RES_TRUE("1") "\n" ERR("2", "-32601", "Method not found") "\n"
			    RES_TRUE("3") "\n[" RES_TRUE("4") "]\n"));
	/* Two and a half requests: the half waits. */
	feed(REQ("echo", "5") REQ("echo", "6") "{\"jsonrpc\":\"2.0\",");
	CU_ASSERT(g_calls == 6);
	CU_ASSERT(output_is(RES_TRUE("5") "\n" RES_TRUE("6") "\n"));
	feed("\"method\":\"echo\",\"id\":7}");
	CU_ASSERT(output_is(RES_TRUE("7") "\n"));
	teardown();
}

static void
test_batch(void)
{
	setup();
	/* Notifications inside a batch get no entry. */
	feed("[" REQ("echo", "1") ",{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},"
	     REQ("fail", "\"x\"") "]");
	CU_ASSERT(g_calls == 3 && g_notifications == 1);
	CU_ASSERT(output_is("[" RES_TRUE("1") ","
			    ERR("\"x\"", "-32602", "Invalid parameter 'block_size': expected uint32")
			    "]\n"));
	/* Invalid elements get -32600 each, with id null unless a usable id was there. */
	feed("[1,{\"foo\":\"boo\"},{\"jsonrpc\":\"2.0\",\"method\":1,\"id\":9}," REQ("echo", "2") "]");
	CU_ASSERT(output_is("[" ERR("null", "-32600", "Invalid request: not an object") ","
			    ERR("null", "-32600", "Invalid request: \\\"jsonrpc\\\" must be \\\"2.0\\\"")
			    "," ERR("9", "-32600", "Invalid request: method must be a string") ","
			    RES_TRUE("2") "]\n"));
	/* Only notifications: nothing at all is written. */
	g_calls = 0;
	feed("[{\"jsonrpc\":\"2.0\",\"method\":\"echo\"},{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}]");
	CU_ASSERT(g_calls == 2);
	CU_ASSERT(g_conn->send_len == 0);
	CU_ASSERT(TAILQ_EMPTY(&g_conn->units));
	/* Empty batch: one error object, not an array; the connection goes on. */
	feed("[]");
	CU_ASSERT(output_is(ERR("null", "-32600", "Invalid request: empty batch") "\n"));
	feed(" [ ] ");
	CU_ASSERT(output_is(ERR("null", "-32600", "Invalid request: empty batch") "\n"));
	CU_ASSERT(!g_conn->closing);
	/* A batch of one is still an array. */
	feed("[" REQ("echo", "3") "]");
	CU_ASSERT(output_is("[" RES_TRUE("3") "]\n"));
	/* Nested batches are not requests. */
	feed("[[" REQ("echo", "4") "]]");
	CU_ASSERT(output_is("[" ERR("null", "-32600", "Invalid request: not an object") "]\n"));
	teardown();
}

static void
test_notifications(void)
{
	setup();
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":[1]}");
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"nosuch\"}");
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"fail\"}");
	CU_ASSERT(g_calls == 3 && g_notifications == 3);
	CU_ASSERT(g_conn->send_len == 0);
	/* "id": null is a request, not a notification. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":null}");
	CU_ASSERT(output_is(RES_TRUE("null") "\n"));
	/* A deferred notification does not hold back later answers. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"defer\"}" REQ("echo", "1"));
	CU_ASSERT(output_is(RES_TRUE("1") "\n"));
	CU_ASSERT(g_num_deferred == 1);
	osp_jsonrpc_send_result(g_deferred[0], cJSON_CreateNumber(5));
	CU_ASSERT(g_conn->send_len == 0);
	teardown();
}

static void
test_invalid_requests(void)
{
	setup();
	feed("{\"method\":\"echo\",\"id\":1}");
	CU_ASSERT(output_is(ERR("1", "-32600", "Invalid request: \\\"jsonrpc\\\" must be \\\"2.0\\\"")
			    "\n"));
	feed("{\"jsonrpc\":\"1.0\",\"method\":\"echo\",\"id\":1}");
	CU_ASSERT(output_is(ERR("1", "-32600", "Invalid request: \\\"jsonrpc\\\" must be \\\"2.0\\\"")
			    "\n"));
	feed("{\"jsonrpc\":2.0,\"method\":\"echo\",\"id\":1}");
	CU_ASSERT(output_is(ERR("1", "-32600", "Invalid request: \\\"jsonrpc\\\" must be \\\"2.0\\\"")
			    "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"id\":1}");
	CU_ASSERT(output_is(ERR("1", "-32600", "Invalid request: method must be a string") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":[\"echo\"],\"id\":1}");
	CU_ASSERT(output_is(ERR("1", "-32600", "Invalid request: method must be a string") "\n"));
	/* Bad id types: echoed as null. */
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":{}}");
	CU_ASSERT(output_is(ERR("null", "-32600",
				"Invalid request: id must be a number, a string or null") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":[1]}");
	CU_ASSERT(output_is(ERR("null", "-32600",
				"Invalid request: id must be a number, a string or null") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":true}");
	CU_ASSERT(output_is(ERR("null", "-32600",
				"Invalid request: id must be a number, a string or null") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":\"x\",\"id\":\"p\"}");
	CU_ASSERT(output_is(ERR("\"p\"", "-32600",
				"Invalid request: params must be an object or an array") "\n"));
	feed("{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"params\":3}");
	CU_ASSERT(output_is(ERR("null", "-32600",
				"Invalid request: params must be an object or an array") "\n"));
	feed("{}");
	CU_ASSERT(output_is(ERR("null", "-32600", "Invalid request: \\\"jsonrpc\\\" must be \\\"2.0\\\"")
			    "\n"));
	CU_ASSERT(g_calls == 0);
	CU_ASSERT(!g_conn->closing);
	/* Method names are passed as they are; the registry decides. */
	feed(REQ("", "1"));
	CU_ASSERT(output_is(ERR("1", "-32601", "Method not found") "\n"));
	teardown();
}

static void
test_parse_errors(void)
{
	/* Bad JSON inside a framed value: answer, then stop reading. */
	setup();
	feed(REQ("echo", "1") "{\"a\":}" REQ("echo", "2"));
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(output_is(RES_TRUE("1") "\n" ERR("null", "-32700", "Parse error") "\n"));
	CU_ASSERT(g_conn->closing);
	feed(REQ("echo", "3"));
	CU_ASSERT(g_calls == 1 && g_conn->send_len == 0);
	teardown();

	/* A top-level scalar cannot be framed in a stream. */
	setup();
	feed("42 ");
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	CU_ASSERT(g_conn->closing);
	teardown();
	setup();
	feed("\"str\"");
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	teardown();
	/* Unbalanced closer at top level. */
	setup();
	feed("}");
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	teardown();
	/* Trailing comma, NUL byte, mismatched brackets. */
	setup();
	feed("[1,]");
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	teardown();
	setup();
	feed_n("{\"a\":\"\0\"}", 9);
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	teardown();
	setup();
	feed("{\"a\":[}]");
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error") "\n"));
	teardown();

	/* An earlier deferred answer still comes out before the parse error. */
	setup();
	feed(REQ("defer", "1") "{bad}");
	CU_ASSERT(g_conn->send_len == 0 && g_conn->closing);
	osp_jsonrpc_send_result(g_deferred[0], NULL);
	CU_ASSERT(output_is(RES_TRUE("1") "\n" ERR("null", "-32700", "Parse error") "\n"));
	teardown();
}

static char *
deep_request(int params_depth)
{
	const char head[] = "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":";
	size_t hl = strlen(head), i;
	char *s = malloc(hl + (size_t)params_depth * 2 + 2), *p = s;

	memcpy(p, head, hl);
	p += hl;
	for (i = 0; i < (size_t)params_depth; i++) {
		*p++ = '[';
	}
	for (i = 0; i < (size_t)params_depth; i++) {
		*p++ = ']';
	}
	*p++ = '}';
	*p = '\0';
	return s;
}

static void
test_depth(void)
{
	char *s;

	/* The request object is level 1: 63 levels of params make 64. */
	setup();
	s = deep_request(OSP_JSON_MAX_DEPTH - 1);
	feed(s);
	free(s);
	CU_ASSERT(g_calls == 1 && !g_conn->closing);
	free(take_output_of(g_conn));
	s = deep_request(OSP_JSON_MAX_DEPTH);
	feed(s);
	free(s);
	CU_ASSERT(g_calls == 1);
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error: nesting too deep") "\n"));
	CU_ASSERT(g_conn->closing);
	teardown();

	/* Refused as soon as the depth is exceeded, before the value ends. */
	setup();
	s = malloc(100001);
	memset(s, '[', 100000);
	s[100000] = '\0';
	feed(s);
	free(s);
	CU_ASSERT(output_is(ERR("null", "-32700", "Parse error: nesting too deep") "\n"));
	CU_ASSERT(g_conn->closing && g_conn->recv_len == 0);
	teardown();
}

static void
test_oversize(void)
{
	char req[400];
	size_t len;

	jsonrpc_set_max_request_size(200);
	CU_ASSERT(jsonrpc_get_max_request_size() == 200);

	/* Exactly at the limit passes. */
	setup();
	snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,"
		 "\"params\":{\"s\":\"%0*d\"}}", 200 - 58, 0);
	len = strlen(req);
	CU_ASSERT(len == 200);
	feed(req);
	CU_ASSERT(g_calls == 1 && !g_conn->closing);
	free(take_output_of(g_conn));
	teardown();

	/* One byte over, complete in one read. */
	setup();
	snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,"
		 "\"params\":{\"s\":\"%0*d\"}}", 201 - 58, 0);
	feed(req);
	CU_ASSERT(g_calls == 0);
	CU_ASSERT(output_is(ERR("null", "-32600", "Invalid request: request too large") "\n"));
	CU_ASSERT(g_conn->closing);
	teardown();

	/* Incomplete but already too large: refused without waiting for the end. */
	setup();
	snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,"
		 "\"params\":{\"s\":\"%0*d", 300, 0);
	feed_n(req, 150);
	CU_ASSERT(g_conn->send_len == 0 && !g_conn->closing);
	feed_n(req + 150, 60);
	CU_ASSERT(output_is(ERR("null", "-32600", "Invalid request: request too large") "\n"));
	CU_ASSERT(g_conn->closing && g_conn->recv_len == 0);
	teardown();

	/* Many small requests in one read are each under the limit. */
	setup();
	feed(REQ("echo", "1") REQ("echo", "2") REQ("echo", "3") REQ("echo", "4") REQ("echo", "5"));
	CU_ASSERT(g_calls == 5 && !g_conn->closing);
	teardown();

	jsonrpc_set_max_request_size(0);
	CU_ASSERT(jsonrpc_get_max_request_size() == OSP_JSONRPC_MAX_REQUEST_SIZE);
}

static void
test_id_types(void)
{
	setup();
	feed(REQ("echo", "0") REQ("echo", "-5") REQ("echo", "1.5") REQ("echo", "9007199254740992")
	     REQ("echo", "\"abc\"") REQ("echo", "\"\"") REQ("echo", "null")
	     REQ("echo", "\"q\\\"\\\\/\\u0001\""));
	CU_ASSERT(output_is(RES_TRUE("0") "\n" RES_TRUE("-5") "\n" RES_TRUE("1.5") "\n"
			    RES_TRUE("9007199254740992") "\n" RES_TRUE("\"abc\"") "\n"
			    RES_TRUE("\"\"") "\n" RES_TRUE("null") "\n"
			    RES_TRUE("\"q\\\"\\\\/\\u0001\"") "\n"));
	/* Errors keep the id too. */
	feed(REQ("nosuch", "\"id-7\""));
	CU_ASSERT(output_is(ERR("\"id-7\"", "-32601", "Method not found") "\n"));
	teardown();
}

static void
test_async_order(void)
{
	setup();
	/* The answer to 2 waits for the answer to 1. */
	feed(REQ("defer", "1") REQ("echo", "2") REQ("defer", "3"));
	CU_ASSERT(g_num_deferred == 2 && g_conn->send_len == 0);
	osp_jsonrpc_send_result(g_deferred[1], cJSON_CreateString("three"));
	CU_ASSERT(g_conn->send_len == 0);
	osp_jsonrpc_send_error_response(g_deferred[0], OSP_JSONRPC_ERROR_INVALID_STATE, "later");
	CU_ASSERT(output_is(ERR("1", "-1", "later") "\n" RES_TRUE("2") "\n"
			    "{\"jsonrpc\":\"2.0\",\"id\":3,\"result\":\"three\"}\n"));

	/* A batch answers once all its members have, in member order. */
	g_num_deferred = 0;
	feed("[" REQ("defer", "10") "," REQ("echo", "11") "," REQ("defer", "12") "]" REQ("echo", "13"));
	CU_ASSERT(g_num_deferred == 2 && g_conn->send_len == 0);
	osp_jsonrpc_send_bool_response(g_deferred[1], false);
	CU_ASSERT(g_conn->send_len == 0);
	osp_jsonrpc_send_result(g_deferred[0], cJSON_CreateNumber(10));
	CU_ASSERT(output_is("[{\"jsonrpc\":\"2.0\",\"id\":10,\"result\":10}," RES_TRUE("11")
			    ",{\"jsonrpc\":\"2.0\",\"id\":12,\"result\":false}]\n" RES_TRUE("13") "\n"));
	CU_ASSERT(TAILQ_EMPTY(&g_conn->units));
	teardown();
}

static void
test_async_after_close(void)
{
	/* Single requests and a batch pending when the connection closes. */
	setup();
	feed(REQ("defer", "1") "[" REQ("defer", "2") "," REQ("echo", "3") "," REQ("defer", "4") "]"
	     REQ("echo", "5"));
	CU_ASSERT(g_num_deferred == 3);
	jsonrpc_conn_close(g_conn);
	g_conn = NULL;
	CU_ASSERT(g_srv->num_conns == 0);
	/* Late answers are dropped; ASan would flag any use of the freed connection. */
	osp_jsonrpc_send_result(g_deferred[1], cJSON_CreateString("late"));
	osp_jsonrpc_send_error_response(g_deferred[0], -1, "late");
	osp_jsonrpc_send_bool_response(g_deferred[2], true);
	teardown();

	/* The server shut down while requests were pending. */
	setup();
	feed(REQ("defer", "1"));
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
	osp_jsonrpc_send_result(g_deferred[0], NULL);
	teardown();
}

static void
test_shutdown_from_handler(void)
{
	setup();
	/* The handler frees the server under the feed: deferred until it unwinds. */
	feed(REQ("shutdown", "1") REQ("echo", "2"));
	CU_ASSERT(g_calls == 1);
	g_srv = NULL;
	g_conn = NULL;
	teardown();
}

static int g_local_cb_count;
static char *g_local_response;

static void
local_cb(void *arg, const cJSON *response)
{
	g_local_cb_count++;
	CU_ASSERT(arg == &g_local_cb_count);
	free(g_local_response);
	g_local_response = response != NULL ? cJSON_PrintUnformatted(response) : NULL;
}

static void
test_local_call(void)
{
	cJSON *params, *resp, *id;

	g_calls = g_num_deferred = 0;
	params = cJSON_Parse("{\"name\":\"Malloc0\"}");
	CU_ASSERT(osp_jsonrpc_call_local("echo", params, test_handler, local_cb,
					 &g_local_cb_count) == 0);
	cJSON_Delete(params);
	CU_ASSERT(g_local_cb_count == 1);
	resp = cJSON_Parse(g_local_response);
	CU_ASSERT(strcmp(cJSON_GetObjectItem(resp, "jsonrpc")->valuestring, "2.0") == 0);
	id = cJSON_GetObjectItem(resp, "id");
	CU_ASSERT(cJSON_IsNumber(id));
	CU_ASSERT(strcmp(cJSON_GetObjectItem(cJSON_GetObjectItem(resp, "result"), "name")->valuestring,
			 "Malloc0") == 0);
	cJSON_Delete(resp);

	/* Errors reach the callback as error responses. */
	CU_ASSERT(osp_jsonrpc_call_local("nosuch", NULL, test_handler, local_cb,
					 &g_local_cb_count) == 0);
	CU_ASSERT(g_local_cb_count == 2);
	CU_ASSERT(strstr(g_local_response, "\"error\":{\"code\":-32601") != NULL);

	params = cJSON_CreateString("x");
	CU_ASSERT(osp_jsonrpc_call_local("echo", params, test_handler, local_cb,
					 &g_local_cb_count) == 0);
	cJSON_Delete(params);
	CU_ASSERT(g_local_cb_count == 3);
	CU_ASSERT(strstr(g_local_response, "\"code\":-32600") != NULL);

	/* Deferred: the callback runs when the handler answers. */
	CU_ASSERT(osp_jsonrpc_call_local("defer", NULL, test_handler, local_cb,
					 &g_local_cb_count) == 0);
	CU_ASSERT(g_local_cb_count == 3 && g_num_deferred == 1);
	osp_jsonrpc_send_result(g_deferred[0], cJSON_CreateString("done"));
	CU_ASSERT(g_local_cb_count == 4);
	CU_ASSERT(strstr(g_local_response, "\"result\":\"done\"") != NULL);
	free(g_local_response);
	g_local_response = NULL;
}

/* ---- real sockets, polled on a test thread ---- */

static int
suite_socket_init(void)
{
	ut_env_init();
	if (ut_allocate_threads(1) != 0) {
		return -1;
	}
	ut_set_thread(0);
	return 0;
}

static int
suite_socket_fini(void)
{
	ut_set_thread(-1);
	ut_free_threads();
	return 0;
}

static void
set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/*
 * Poll the server and read from client fd until n newline-terminated
 * answers arrived (or EOF when n == 0). Returns what was read (malloc'd);
 * *eof tells whether the server closed.
 */
static char *
client_read(int fd, int n, bool *eof)
{
	size_t cap = 1 << 16, len = 0;
	char *buf = malloc(cap);
	int lines = 0, spins;
	ssize_t r;

	*eof = false;
	for (spins = 0; spins < 200000; spins++) {
		if (g_srv != NULL) {
			osp_jsonrpc_server_poll(g_srv);
		}
		if (len + 4096 > cap) {
			cap *= 2;
			buf = realloc(buf, cap);
		}
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
		} else if (r == 0) {
			*eof = true;
			break;
		} else if (errno != EAGAIN) {
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
test_socketpair(void)
{
	const char req[] = REQ("echo", "1");
	int sv[2];
	bool eof;
	char *out;

	g_calls = 0;
	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	CU_ASSERT(g_conn->wake_registered && g_conn->wake_events == EPOLLIN);
	CU_ASSERT(interrupt_events() == 0);

	/* Split request: the thread wakes on each part. */
	CU_ASSERT(send(sv[1], req, 10, 0) == 10);
	CU_ASSERT(interrupt_events() > 0);
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT(interrupt_events() == 0);
	CU_ASSERT(g_calls == 0);
	CU_ASSERT(send(sv[1], req + 10, sizeof(req) - 11, 0) == (ssize_t)sizeof(req) - 11);
	out = client_read(sv[1], 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("1") "\n");
	free(out);
	CU_ASSERT(!eof);

	/* Several requests in one write, one of them deferred. */
	g_num_deferred = 0;
	CU_ASSERT(send(sv[1], REQ("defer", "2") REQ("echo", "3"), strlen(REQ("defer", "2") REQ("echo", "3")), 0) > 0);
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT(g_num_deferred == 1);
	osp_jsonrpc_send_result(g_deferred[0], NULL);
	out = client_read(sv[1], 2, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("2") "\n" RES_TRUE("3") "\n");
	free(out);

	/* Parse error: answered, then the server closes the connection. */
	CU_ASSERT(send(sv[1], "{oops}", 6, 0) == 6);
	out = client_read(sv[1], 0, &eof);
	CU_ASSERT_STRING_EQUAL(out, ERR("null", "-32700", "Parse error") "\n");
	CU_ASSERT(eof);
	free(out);
	CU_ASSERT(g_srv->num_conns == 0);
	close(sv[1]);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
}

static void
test_socket_backpressure(void)
{
	const char req[] = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"id\":1,\"params\":{\"size\":8388608}}"
			   REQ("echo", "2");
	int sv[2], sndbuf = 4096;
	bool saw_epollout = false;
	size_t len = 0, cap = 9 << 20;
	char *buf = malloc(cap);
	cJSON *resp;
	ssize_t r;
	int spins;

	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	set_nonblock(sv[0]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	CU_ASSERT(send(sv[1], req, strlen(req), 0) == (ssize_t)strlen(req));
	for (spins = 0; spins < 1000000 && len < cap; spins++) {
		osp_jsonrpc_server_poll(g_srv);
		if (g_conn->wake_events & EPOLLOUT) {
			saw_epollout = true;
			/* Above the high-water mark the connection stops reading. */
			CU_ASSERT(!(g_conn->wake_events & EPOLLIN) ||
				  g_conn->send_len - g_conn->send_off < JSONRPC_SEND_HIGH_WATER);
		}
		r = recv(sv[1], buf + len, 100000 < cap - len ? 100000 : cap - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			if (len > 2 && memcmp(buf + len - 2, "}\n", 2) == 0 &&
			    memmem(buf, len, "\"id\":2", 6) != NULL) {
				break;
			}
		}
	}
	CU_ASSERT(saw_epollout);
	/* Once drained, only input is waited for, and the big buffer is gone. */
	CU_ASSERT(g_conn->wake_events == EPOLLIN);
	CU_ASSERT(g_conn->send_cap == 0);
	CU_ASSERT(len == strlen("{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"\"}\n") + 8388608 +
		  strlen(RES_TRUE("2") "\n"));
	resp = cJSON_ParseWithLength(buf, len - strlen(RES_TRUE("2")) - 1);
	CU_ASSERT(resp != NULL && strlen(cJSON_GetObjectItem(resp, "result")->valuestring) == 8388608);
	cJSON_Delete(resp);
	CU_ASSERT(memcmp(buf + len - strlen(RES_TRUE("2")) - 1, RES_TRUE("2") "\n",
			 strlen(RES_TRUE("2")) + 1) == 0);
	free(buf);
	close(sv[1]);
	for (spins = 0; spins < 1000 && g_srv->num_conns > 0; spins++) {
		osp_jsonrpc_server_poll(g_srv);
	}
	CU_ASSERT(g_srv->num_conns == 0);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
}

static void
test_socket_peer_gone(void)
{
	int sv[2];
	bool eof;
	char *out;

	/* Client closes with an answer pending: the late answer is dropped. */
	g_srv = jsonrpc_server_alloc(test_handler);
	g_num_deferred = 0;
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	CU_ASSERT(send(sv[1], REQ("defer", "1"), strlen(REQ("defer", "1")), 0) > 0);
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT(g_num_deferred == 1);
	close(sv[1]);
	osp_jsonrpc_server_poll(g_srv);
	/* Still owed an answer: kept, but out of the wake set (no busy wake-ups on HUP). */
	CU_ASSERT(g_srv->num_conns == 1 && g_conn->eof && !g_conn->wake_registered);
	CU_ASSERT(interrupt_events() == 0);
	osp_jsonrpc_send_result(g_deferred[0], cJSON_CreateString("late"));
	CU_ASSERT(g_srv->num_conns == 0);
	osp_jsonrpc_server_shutdown(g_srv);

	/* Half-close: the client stops sending but still reads its answer. */
	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	CU_ASSERT(send(sv[1], REQ("echo", "1"), strlen(REQ("echo", "1")), 0) > 0);
	shutdown(sv[1], SHUT_WR);
	out = client_read(sv[1], 0, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("1") "\n");
	CU_ASSERT(eof);
	free(out);
	CU_ASSERT(g_srv->num_conns == 0);
	close(sv[1]);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
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

static void
test_listen_unix(void)
{
	char dir[] = "/tmp/osp_jsonrpc_ut_XXXXXX", path[100], lock[112], other[100];
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct osp_jsonrpc_server *srv2;
	char longpath[200];
	struct stat st;
	int fd, c[3], i;
	bool eof;
	char *out;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	snprintf(lock, sizeof(lock), "%s.lock", path);
	g_calls = 0;

	CU_ASSERT(osp_jsonrpc_server_listen_unix(path, test_handler, &g_srv) == 0);
	CU_ASSERT(stat(path, &st) == 0 && S_ISSOCK(st.st_mode) && (st.st_mode & 0777) == 0600);
	CU_ASSERT(stat(lock, &st) == 0);
	/* A second server on a live path is refused and leaves it alone. */
	CU_ASSERT(osp_jsonrpc_server_listen_unix(path, test_handler, &srv2) == -EADDRINUSE);
	CU_ASSERT(srv2 == NULL && stat(path, &st) == 0 && stat(lock, &st) == 0);

	/* Clients, each answered on its own connection; a request split per byte. */
	CU_ASSERT(interrupt_events() == 0);
	for (i = 0; i < 3; i++) {
		c[i] = client_connect(path);
		CU_ASSERT_FATAL(c[i] >= 0);
	}
	CU_ASSERT(interrupt_events() > 0);	/* the listen fd wakes the thread */
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT(g_srv->num_conns == 3);
	{
		const char req[] = REQ("echo", "\"c1\"");

		for (i = 0; i < (int)sizeof(req) - 1; i++) {
			CU_ASSERT(send(c[1], req + i, 1, 0) == 1);
			osp_jsonrpc_server_poll(g_srv);
		}
	}
	CU_ASSERT(send(c[2], REQ("echo", "\"c2\""), strlen(REQ("echo", "\"c2\"")), 0) > 0);
	CU_ASSERT(send(c[0], REQ("echo", "\"c0\""), strlen(REQ("echo", "\"c0\"")), 0) > 0);
	for (i = 0; i < 3; i++) {
		char expected[64];

		snprintf(expected, sizeof(expected), RES_TRUE("\"c%d\"") "\n", i);
		out = client_read(c[i], 1, &eof);
		CU_ASSERT_STRING_EQUAL(out, expected);
		free(out);
	}

	/* Oversize request: error, then that connection (only) is closed. */
	jsonrpc_set_max_request_size(1000);
	{
		char big[2100];

		memset(big, ' ', sizeof(big));
		memcpy(big, "{\"jsonrpc\":\"2.0\",\"method\":\"echo\",\"id\":1,\"params\":{\"s\":\"", 56);
		memset(big + 56, 'a', 2000);
		CU_ASSERT(send(c[0], big, 2056, 0) == 2056);
	}
	out = client_read(c[0], 0, &eof);
	CU_ASSERT_STRING_EQUAL(out, ERR("null", "-32600", "Invalid request: request too large") "\n");
	CU_ASSERT(eof);
	free(out);
	jsonrpc_set_max_request_size(0);
	CU_ASSERT(g_srv->num_conns == 2);
	CU_ASSERT(send(c[2], REQ("echo", "9"), strlen(REQ("echo", "9")), 0) > 0);
	out = client_read(c[2], 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("9") "\n");
	free(out);

	/* Connection cap: the extra client is accepted and closed at once. */
	jsonrpc_set_max_connections(2);
	fd = client_connect(path);
	CU_ASSERT_FATAL(fd >= 0);
	out = client_read(fd, 0, &eof);
	CU_ASSERT(eof && out[0] == '\0');
	free(out);
	close(fd);
	jsonrpc_set_max_connections(0);
	CU_ASSERT(g_srv->num_conns == 2);

	/* Out of descriptors: stop waking on the listen fd, resume once accept works. */
	{
		struct rlimit rl, low;
		int probe;

		fd = client_connect(path);
		CU_ASSERT_FATAL(fd >= 0);
		CU_ASSERT(getrlimit(RLIMIT_NOFILE, &rl) == 0);
		probe = dup(0);
		close(probe);
		low = rl;
		low.rlim_cur = (rlim_t)probe;	/* every lower fd is in use */
		CU_ASSERT(setrlimit(RLIMIT_NOFILE, &low) == 0);
		osp_jsonrpc_server_poll(g_srv);
		CU_ASSERT(g_srv->accept_paused && !g_srv->listen_wake_registered);
		CU_ASSERT(g_srv->num_conns == 2);
		CU_ASSERT(setrlimit(RLIMIT_NOFILE, &rl) == 0);
		osp_jsonrpc_server_poll(g_srv);
		CU_ASSERT(!g_srv->accept_paused && g_srv->listen_wake_registered);
		CU_ASSERT(g_srv->num_conns == 3);
		close(fd);
		for (i = 0; i < 100 && g_srv->num_conns > 2; i++) {
			osp_jsonrpc_server_poll(g_srv);
		}
		CU_ASSERT(g_srv->num_conns == 2);
	}

	/* Shutdown closes clients and removes the socket and lock files. */
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
	for (i = 0; i < 3; i++) {
		out = client_read(c[i], 0, &eof);
		CU_ASSERT(eof);
		free(out);
		close(c[i]);
	}
	CU_ASSERT(stat(path, &st) != 0 && errno == ENOENT);
	CU_ASSERT(stat(lock, &st) != 0 && errno == ENOENT);
	CU_ASSERT(interrupt_events() == 0);

	/* A stale socket file (nobody listening) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
	CU_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0);
	close(fd);
	CU_ASSERT(stat(path, &st) == 0);
	CU_ASSERT(osp_jsonrpc_server_listen_unix(path, test_handler, &g_srv) == 0);
	fd = client_connect(path);
	CU_ASSERT(send(fd, REQ("echo", "1"), strlen(REQ("echo", "1")), 0) > 0);
	out = client_read(fd, 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("1") "\n");
	free(out);
	close(fd);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;

	/* A live listener that is not ours (no lock file) is detected by connecting. */
	snprintf(other, sizeof(other), "%s/other.sock", dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", other);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	CU_ASSERT(bind(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(fd, 4) == 0);
	CU_ASSERT(osp_jsonrpc_server_listen_unix(other, test_handler, &srv2) == -EADDRINUSE);
	CU_ASSERT(stat(other, &st) == 0);
	close(fd);
	unlink(other);
	/* A regular file at the path is never removed. */
	fd = open(other, O_CREAT | O_WRONLY, 0600);
	close(fd);
	CU_ASSERT(osp_jsonrpc_server_listen_unix(other, test_handler, &srv2) == -EADDRINUSE);
	CU_ASSERT(stat(other, &st) == 0 && S_ISREG(st.st_mode));
	unlink(other);

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	CU_ASSERT(osp_jsonrpc_server_listen_unix(longpath, test_handler, &srv2) == -ENAMETOOLONG);
	CU_ASSERT(osp_jsonrpc_server_listen_unix("", test_handler, &srv2) == -EINVAL);
	snprintf(other, sizeof(other), "%s/nodir/x.sock", dir);
	CU_ASSERT(osp_jsonrpc_server_listen_unix(other, test_handler, &srv2) == -ENOENT);
	rmdir(dir);
}

/*
 * A client that pipelines requests with large answers and does not read:
 * the server stops taking its requests while the unsent answers are over the
 * high-water mark (instead of running them all and buffering every answer),
 * and runs the rest, in order, once the client reads.
 */
static void
test_socket_pipelined_backlog(void)
{
	const char one[] = "{\"jsonrpc\":\"2.0\",\"method\":\"big\",\"id\":%d,\"params\":{\"size\":262144}}";
	enum { NREQ = 100 };
	size_t max_backlog = 0, len = 0, cap = 64 << 20, reqlen = 0;
	char *reqs = malloc(NREQ * 128), *buf = malloc(cap), *p;
	int sv[2], i, spins, answers = 0, next_id = 1;
	ssize_t r;

	g_calls = 0;
	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	set_nonblock(sv[1]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	for (i = 1; i <= NREQ; i++) {
		reqlen += (size_t)sprintf(reqs + reqlen, one, i);
	}
	CU_ASSERT_FATAL(send(sv[1], reqs, reqlen, 0) == (ssize_t)reqlen);
	for (spins = 0; spins < 1000; spins++) {
		osp_jsonrpc_server_poll(g_srv);
		max_backlog = OSP_MAX(max_backlog, g_conn->send_len - g_conn->send_off);
	}
	/* Without the pause all 100 run and ~25 MiB of answers wait in memory. */
	CU_ASSERT(g_calls < NREQ);
	CU_ASSERT(max_backlog < JSONRPC_SEND_HIGH_WATER + 300000);
	CU_ASSERT(g_conn->input_paused && !(g_conn->wake_events & EPOLLIN));

	/* The client reads: the rest run, answers in request order. */
	for (spins = 0; spins < 2000000 && answers < NREQ; spins++) {
		osp_jsonrpc_server_poll(g_srv);
		max_backlog = OSP_MAX(max_backlog, g_conn->send_len - g_conn->send_off);
		r = recv(sv[1], buf + len, cap - len, MSG_DONTWAIT);
		if (r > 0) {
			len += (size_t)r;
			while ((p = memchr(buf, '\n', len)) != NULL) {
				cJSON *resp = cJSON_ParseWithLength(buf, (size_t)(p - buf));

				CU_ASSERT(resp != NULL &&
					  cJSON_GetObjectItem(resp, "id")->valueint == next_id);
				cJSON_Delete(resp);
				next_id++;
				answers++;
				len -= (size_t)(p + 1 - buf);
				memmove(buf, p + 1, len);
			}
		}
	}
	CU_ASSERT(answers == NREQ && g_calls == NREQ);
	CU_ASSERT(max_backlog < JSONRPC_SEND_HIGH_WATER + 300000);
	CU_ASSERT(!g_conn->input_paused);
	free(reqs);
	free(buf);
	close(sv[1]);
	for (spins = 0; spins < 1000 && g_srv->num_conns > 0; spins++) {
		osp_jsonrpc_server_poll(g_srv);
	}
	CU_ASSERT(g_srv->num_conns == 0);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
}

/* Too many answers still being computed also stop reading, until they are sent. */
static void
test_socket_pending_cap(void)
{
	int sv[2], i, spins;
	char req[64];
	bool eof;
	char *out;

	g_calls = g_num_deferred = 0;
	g_srv = jsonrpc_server_alloc(test_handler);
	CU_ASSERT_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
	set_nonblock(sv[0]);
	g_conn = jsonrpc_conn_create(g_srv, sv[0]);
	for (i = 0; i < JSONRPC_MAX_PENDING_UNITS + 5; i++) {
		snprintf(req, sizeof(req), REQ("defer", "%d"), i);
		CU_ASSERT(send(sv[1], req, strlen(req), 0) == (ssize_t)strlen(req));
	}
	for (spins = 0; spins < 100; spins++) {
		osp_jsonrpc_server_poll(g_srv);
	}
	CU_ASSERT(g_num_deferred == JSONRPC_MAX_PENDING_UNITS && g_conn->input_paused);
	for (i = 0; i < JSONRPC_MAX_PENDING_UNITS; i++) {
		osp_jsonrpc_send_result(g_deferred[i], NULL);
	}
	g_num_deferred = 0;
	out = client_read(sv[1], JSONRPC_MAX_PENDING_UNITS, &eof);
	free(out);
	for (spins = 0; spins < 100; spins++) {
		osp_jsonrpc_server_poll(g_srv);
	}
	CU_ASSERT(g_num_deferred == 5 && !g_conn->input_paused);
	for (i = 0; i < 5; i++) {
		osp_jsonrpc_send_result(g_deferred[i], NULL);
	}
	out = client_read(sv[1], 5, &eof);
	CU_ASSERT(strstr(out, "\"id\":" "68") != NULL || JSONRPC_MAX_PENDING_UNITS != 64);
	free(out);
	close(sv[1]);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
}

/*
 * Idle clients holding every connection slot: a new client replaces the one
 * idle longest (a busy one is never closed), and idle ones time out.
 */
static void
test_listen_idle_clients(void)
{
	char dir[] = "/tmp/osp_jsonrpc_ut_XXXXXX", path[100];
	int c[4], i, spins;
	bool eof;
	char *out;

	CU_ASSERT_FATAL(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/rpc.sock", dir);
	g_calls = g_num_deferred = 0;
	CU_ASSERT_FATAL(osp_jsonrpc_server_listen_unix(path, test_handler, &g_srv) == 0);
	jsonrpc_set_max_connections(2);
	jsonrpc_set_idle_limits(60000, 20);

	c[0] = client_connect(path);
	osp_jsonrpc_server_poll(g_srv);
	c[1] = client_connect(path);
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT_FATAL(g_srv->num_conns == 2);
	/* c[1] has a request in progress: it is never the one given up. */
	CU_ASSERT(send(c[1], REQ("defer", "1"), strlen(REQ("defer", "1")), 0) > 0);
	osp_jsonrpc_server_poll(g_srv);
	CU_ASSERT(g_num_deferred == 1);
	usleep(40 * 1000);

	/* A new client gets in; the idle c[0] is closed for it. */
	c[2] = client_connect(path);
	CU_ASSERT(send(c[2], REQ("echo", "2"), strlen(REQ("echo", "2")), 0) > 0);
	out = client_read(c[2], 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("2") "\n");
	free(out);
	out = client_read(c[0], 0, &eof);
	CU_ASSERT(eof);
	free(out);
	CU_ASSERT(g_srv->num_conns == 2);

	/* Both busy or recently active: the next one is refused. */
	c[3] = client_connect(path);
	CU_ASSERT(send(c[3], REQ("echo", "3"), strlen(REQ("echo", "3")), 0) > 0);
	out = client_read(c[3], 0, &eof);
	CU_ASSERT(eof && out[0] == '\0');
	free(out);
	close(c[3]);
	osp_jsonrpc_send_result(g_deferred[0], NULL);
	out = client_read(c[1], 1, &eof);
	CU_ASSERT_STRING_EQUAL(out, RES_TRUE("1") "\n");
	free(out);

	/* Idle timeout: both are closed once idle long enough. */
	jsonrpc_set_idle_limits(30, 20);
	usleep(60 * 1000);
	for (spins = 0; spins < 10 && g_srv->num_conns > 0; spins++) {
		osp_jsonrpc_server_poll(g_srv);
	}
	CU_ASSERT(g_srv->num_conns == 0);
	for (i = 1; i < 3; i++) {
		out = client_read(c[i], 0, &eof);
		CU_ASSERT(eof);
		free(out);
	}
	jsonrpc_set_idle_limits(0, 0);
	jsonrpc_set_max_connections(0);
	osp_jsonrpc_server_shutdown(g_srv);
	g_srv = NULL;
	for (i = 0; i < 3; i++) {
		close(c[i]);
	}
	rmdir(dir);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("jsonrpc_framing", NULL, NULL);
	CU_ADD_TEST(suite, test_single);
	CU_ADD_TEST(suite, test_split_every_byte);
	CU_ADD_TEST(suite, test_pipelined);
	CU_ADD_TEST(suite, test_batch);
	CU_ADD_TEST(suite, test_notifications);
	CU_ADD_TEST(suite, test_invalid_requests);
	CU_ADD_TEST(suite, test_parse_errors);
	CU_ADD_TEST(suite, test_depth);
	CU_ADD_TEST(suite, test_oversize);
	CU_ADD_TEST(suite, test_id_types);
	CU_ADD_TEST(suite, test_async_order);
	CU_ADD_TEST(suite, test_async_after_close);
	CU_ADD_TEST(suite, test_shutdown_from_handler);
	CU_ADD_TEST(suite, test_local_call);
	suite = CU_add_suite("jsonrpc_socket", suite_socket_init, suite_socket_fini);
	CU_ADD_TEST(suite, test_socketpair);
	CU_ADD_TEST(suite, test_socket_backpressure);
	CU_ADD_TEST(suite, test_socket_peer_gone);
	CU_ADD_TEST(suite, test_listen_unix);
	CU_ADD_TEST(suite, test_socket_pipelined_backlog);
	CU_ADD_TEST(suite, test_socket_pending_cap);
	CU_ADD_TEST(suite, test_listen_idle_clients);
	rc = ut_run_suites();
	return rc;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/* Unit tests of lib/json: typed decoders, object/array decoding, parsing limits. */
#include <CUnit/Basic.h>
#include <stdio.h>
#include <string.h>

#include "json/json_util.c"
#include "ut_run.h"

/* Parse text (must be valid) and return the tree. */
static cJSON *
P(const char *text)
{
	cJSON *v = osp_json_parse(text, strlen(text));

	CU_ASSERT_FATAL(v != NULL);
	return v;
}

/* Run decoder fn on the single-value JSON text; returns its rc. */
static int
dec(osp_json_decode_fn fn, const char *text, void *out, char *err, size_t errlen)
{
	cJSON *v = P(text);
	int rc = fn(v, out, err, errlen);

	cJSON_Delete(v);
	return rc;
}

static void
test_decode_bool(void)
{
	char err[64];
	bool b = false;

	CU_ASSERT(dec(osp_json_decode_bool, "true", &b, err, sizeof(err)) == 0 && b);
	CU_ASSERT(dec(osp_json_decode_bool, "false", &b, err, sizeof(err)) == 0 && !b);
	CU_ASSERT(dec(osp_json_decode_bool, "1", &b, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected bool");
	CU_ASSERT(dec(osp_json_decode_bool, "\"true\"", &b, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_bool, "null", &b, err, sizeof(err)) == -EINVAL);
	/* NULL err buffer is allowed. */
	CU_ASSERT(dec(osp_json_decode_bool, "0", &b, NULL, 0) == -EINVAL);
}

static void
test_decode_uint8_16(void)
{
	char err[64];
	uint8_t u8 = 0;
	uint16_t u16 = 0;

	CU_ASSERT(dec(osp_json_decode_uint8, "0", &u8, err, sizeof(err)) == 0 && u8 == 0);
	CU_ASSERT(dec(osp_json_decode_uint8, "255", &u8, err, sizeof(err)) == 0 && u8 == 255);
	u8 = 7;
	CU_ASSERT(dec(osp_json_decode_uint8, "256", &u8, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected uint8");
	CU_ASSERT(u8 == 7);	/* untouched on error */
	CU_ASSERT(dec(osp_json_decode_uint8, "-1", &u8, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint8, "1.5", &u8, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint8, "\"5\"", &u8, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint16, "65535", &u16, err, sizeof(err)) == 0 && u16 == 65535);
	CU_ASSERT(dec(osp_json_decode_uint16, "65536", &u16, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected uint16");
	CU_ASSERT(dec(osp_json_decode_uint16, "-0", &u16, err, sizeof(err)) == 0 && u16 == 0);
	/* An exponent that gives an integer is an integer. */
	CU_ASSERT(dec(osp_json_decode_uint16, "1e3", &u16, err, sizeof(err)) == 0 && u16 == 1000);
	CU_ASSERT(dec(osp_json_decode_uint16, "1.0", &u16, err, sizeof(err)) == 0 && u16 == 1);
}

static void
test_decode_uint32(void)
{
	char err[64];
	uint32_t u = 0;

	CU_ASSERT(dec(osp_json_decode_uint32, "4294967295", &u, err, sizeof(err)) == 0);
	CU_ASSERT(u == UINT32_MAX);
	CU_ASSERT(dec(osp_json_decode_uint32, "4096", &u, err, sizeof(err)) == 0 && u == 4096);
	CU_ASSERT(dec(osp_json_decode_uint32, "4294967296", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected uint32");
	CU_ASSERT(dec(osp_json_decode_uint32, "-1", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "0.5", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "4096.000001", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "\"4096\"", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "null", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "true", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "[1]", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint32, "{}", &u, err, sizeof(err)) == -EINVAL);
	/* Overflowing to infinity in cJSON is not a number we take. */
	CU_ASSERT(dec(osp_json_decode_uint32, "1e400", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(osp_json_decode_uint32(NULL, &u, err, sizeof(err)) == -EINVAL);
}

static void
test_decode_64(void)
{
	char err[64];
	uint64_t u = 0;
	int64_t i = 0;

	CU_ASSERT(dec(osp_json_decode_uint64, "0", &u, err, sizeof(err)) == 0 && u == 0);
	CU_ASSERT(dec(osp_json_decode_uint64, "9007199254740992", &u, err, sizeof(err)) == 0);
	CU_ASSERT(u == 9007199254740992ULL);	/* 2^53: exact */
	CU_ASSERT(dec(osp_json_decode_uint64, "1099511627776", &u, err, sizeof(err)) == 0);
	CU_ASSERT(u == 1099511627776ULL);
	/* Largest double below 2^64 is accepted; 2^64 (what UINT64_MAX rounds to) is not. */
	CU_ASSERT(dec(osp_json_decode_uint64, "18446744073709549568", &u, err, sizeof(err)) == 0);
	CU_ASSERT(u == 18446744073709549568ULL);
	CU_ASSERT(dec(osp_json_decode_uint64, "18446744073709551616", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected uint64");
	CU_ASSERT(dec(osp_json_decode_uint64, "-1", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint64, "1.25", &u, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_uint64, "\"1\"", &u, err, sizeof(err)) == -EINVAL);

	CU_ASSERT(dec(osp_json_decode_int64, "-9223372036854775808", &i, err, sizeof(err)) == 0);
	CU_ASSERT(i == INT64_MIN);
	CU_ASSERT(dec(osp_json_decode_int64, "9223372036854775808", &i, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected int64");
	CU_ASSERT(dec(osp_json_decode_int64, "-42", &i, err, sizeof(err)) == 0 && i == -42);
	CU_ASSERT(dec(osp_json_decode_int64, "-4.2", &i, err, sizeof(err)) == -EINVAL);
}

static void
test_decode_int32_double(void)
{
	char err[64];
	int32_t i = 0;
	double d = 0;

	CU_ASSERT(dec(osp_json_decode_int32, "-2147483648", &i, err, sizeof(err)) == 0);
	CU_ASSERT(i == INT32_MIN);
	CU_ASSERT(dec(osp_json_decode_int32, "2147483647", &i, err, sizeof(err)) == 0);
	CU_ASSERT(i == INT32_MAX);
	CU_ASSERT(dec(osp_json_decode_int32, "2147483648", &i, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected int32");
	CU_ASSERT(dec(osp_json_decode_int32, "-2147483649", &i, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_int32, "3.5", &i, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_int32, "false", &i, err, sizeof(err)) == -EINVAL);

	CU_ASSERT(dec(osp_json_decode_double, "3.25", &d, err, sizeof(err)) == 0 && d == 3.25);
	CU_ASSERT(dec(osp_json_decode_double, "-1e-3", &d, err, sizeof(err)) == 0 && d == -1e-3);
	CU_ASSERT(dec(osp_json_decode_double, "1e400", &d, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(dec(osp_json_decode_double, "\"1\"", &d, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected number");
}

static void
test_decode_string_raw(void)
{
	char err[64];
	char *s = NULL;
	const cJSON *raw = NULL;
	cJSON *v;

	CU_ASSERT(dec(osp_json_decode_string, "\"Malloc0\"", &s, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(s, "Malloc0");
	/* A second decode replaces (and frees) the first value. */
	CU_ASSERT(dec(osp_json_decode_string, "\"a\\u00e9\\n\"", &s, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(s, "a\xc3\xa9\n");
	CU_ASSERT(dec(osp_json_decode_string, "5", &s, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected string");
	CU_ASSERT(dec(osp_json_decode_string, "null", &s, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(s, "a\xc3\xa9\n");	/* kept on error */
	/* An embedded NUL is refused, not cut ("a\u0000b" must not become "a"). */
	CU_ASSERT(dec(osp_json_decode_string, "\"a\\u0000b\"", &s, err, sizeof(err)) == -EINVAL);
	CU_ASSERT(strstr(err, "NUL") != NULL);
	CU_ASSERT(dec(osp_json_decode_string, "\"\\u0000\"", &s, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(s, "a\xc3\xa9\n");
	/* An escaped backslash followed by "u0000" is just text. */
	CU_ASSERT(dec(osp_json_decode_string, "\"a\\\\u0000\"", &s, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(s, "a\\u0000");
	/* Outside strings nothing is rewritten; other escapes still decode. */
	CU_ASSERT(dec(osp_json_decode_string, "\"\\u0001x\"", &s, err, sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(s, "\x01x");
	free(s);
	s = NULL;
	{
		cJSON *o = P("{\"name\":\"a\\u0000b\",\"n\":1}");
		struct nul_params {
			char *name;
			uint32_t n;
		} pr = {};
		const struct osp_json_object_decoder d[] = {
			{"name", offsetof(struct nul_params, name), osp_json_decode_string, false},
			{"n", offsetof(struct nul_params, n), osp_json_decode_uint32, false},
		};
		char e2[128];

		CU_ASSERT(osp_json_decode_object(o, d, 2, &pr, e2, sizeof(e2)) != 0);
		CU_ASSERT(strstr(e2, "name") != NULL && strstr(e2, "NUL") != NULL);
		free(pr.name);
		cJSON_Delete(o);
	}

	v = P("{\"x\":[1,2]}");
	CU_ASSERT(osp_json_decode_raw(v->child, &raw, err, sizeof(err)) == 0);
	CU_ASSERT(raw == v->child);
	CU_ASSERT(osp_json_decode_raw(NULL, &raw, err, sizeof(err)) == -EINVAL);
	cJSON_Delete(v);
}

struct bdev_params {
	char *name;
	uint32_t block_size;
	uint64_t num_blocks;
	bool flag;
	char *uuid;
	const cJSON *extra;
};

static const struct osp_json_object_decoder g_bdev_decoders[] = {
	{"name", offsetof(struct bdev_params, name), osp_json_decode_string},
	{"block_size", offsetof(struct bdev_params, block_size), osp_json_decode_uint32},
	{"num_blocks", offsetof(struct bdev_params, num_blocks), osp_json_decode_uint64},
	{"flag", offsetof(struct bdev_params, flag), osp_json_decode_bool, true},
	{"uuid", offsetof(struct bdev_params, uuid), osp_json_decode_string, true},
	{"extra", offsetof(struct bdev_params, extra), osp_json_decode_raw, true},
};
#define NUM_BDEV_DECODERS (sizeof(g_bdev_decoders) / sizeof(g_bdev_decoders[0]))

static int
decode_bdev(const char *text, struct bdev_params *p, char *err, size_t errlen, bool relaxed)
{
	cJSON *v = P(text);
	int rc;

	memset(p, 0, sizeof(*p));
	if (relaxed) {
		rc = osp_json_decode_object_relaxed(v, g_bdev_decoders, NUM_BDEV_DECODERS, p, err,
						    errlen);
	} else {
		rc = osp_json_decode_object(v, g_bdev_decoders, NUM_BDEV_DECODERS, p, err, errlen);
	}
	p->extra = NULL;	/* points into v */
	osp_json_free_object(g_bdev_decoders, NUM_BDEV_DECODERS, p);
	CU_ASSERT(p->name == NULL && p->uuid == NULL);
	cJSON_Delete(v);
	return rc;
}

static void
test_decode_object(void)
{
	struct bdev_params p;
	char err[256];
	cJSON *v;

	/* All good, optional members absent. */
	v = P("{\"name\":\"Malloc0\",\"block_size\":4096,\"num_blocks\":65536}");
	memset(&p, 0, sizeof(p));
	CU_ASSERT(osp_json_decode_object(v, g_bdev_decoders, NUM_BDEV_DECODERS, &p, err,
					 sizeof(err)) == 0);
	CU_ASSERT_STRING_EQUAL(p.name, "Malloc0");
	CU_ASSERT(p.block_size == 4096 && p.num_blocks == 65536 && !p.flag && p.uuid == NULL);
	osp_json_free_object(g_bdev_decoders, NUM_BDEV_DECODERS, &p);
	CU_ASSERT(p.name == NULL);
	cJSON_Delete(v);

	/* Optional members present. */
	v = P("{\"name\":\"M\",\"block_size\":512,\"num_blocks\":1,\"flag\":true,"
	      "\"uuid\":\"u\",\"extra\":{\"a\":1}}");
	memset(&p, 0, sizeof(p));
	CU_ASSERT(osp_json_decode_object(v, g_bdev_decoders, NUM_BDEV_DECODERS, &p, err,
					 sizeof(err)) == 0);
	CU_ASSERT(p.flag && strcmp(p.uuid, "u") == 0 && cJSON_IsObject(p.extra));
	osp_json_free_object(g_bdev_decoders, NUM_BDEV_DECODERS, &p);
	cJSON_Delete(v);

	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":-1,\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'block_size': expected uint32");
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":4294967296,\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'block_size': expected uint32");
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":512.5,\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'block_size': expected uint32");
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":\"512\",\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'block_size': expected uint32");
	CU_ASSERT(decode_bdev("{\"name\":null,\"block_size\":512,\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'name': expected string");
	CU_ASSERT(decode_bdev("{\"block_size\":512,\"num_blocks\":1}", &p, err, sizeof(err),
			      false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Missing parameter 'name'");
	/* The string decoded before the failing member is freed by free_object. */
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":512}", &p, err, sizeof(err),
			      false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Missing parameter 'num_blocks'");
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":512,\"num_blocks\":1,\"foo\":2}", &p,
			      err, sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Unknown parameter 'foo'");
	/* Relaxed ignores unknown members but not bad known ones. */
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":512,\"num_blocks\":1,\"foo\":2}", &p,
			      err, sizeof(err), true) == 0);
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"block_size\":true,\"num_blocks\":1,\"foo\":2}", &p,
			      err, sizeof(err), true) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'block_size': expected uint32");
	/* Names are case-sensitive. */
	CU_ASSERT(decode_bdev("{\"Name\":\"M\",\"block_size\":512,\"num_blocks\":1}", &p, err,
			      sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Unknown parameter 'Name'");
	/* Duplicate members are refused rather than silently overwritten. */
	CU_ASSERT(decode_bdev("{\"name\":\"M\",\"name\":\"N\",\"block_size\":512,\"num_blocks\":1}",
			      &p, err, sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Duplicate parameter 'name'");
	/* Not an object. */
	CU_ASSERT(decode_bdev("[1,2]", &p, err, sizeof(err), false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameters: expected an object");
	CU_ASSERT(decode_bdev("\"x\"", &p, err, sizeof(err), false) == -EINVAL);

	/* NULL values count as an empty object. */
	memset(&p, 0, sizeof(p));
	CU_ASSERT(osp_json_decode_object(NULL, g_bdev_decoders, NUM_BDEV_DECODERS, &p, err,
					 sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Missing parameter 'name'");
	CU_ASSERT(osp_json_decode_object(NULL, g_bdev_decoders + 3, 3, &p, err, sizeof(err)) == 0);
	/* A tiny error buffer truncates safely. */
	CU_ASSERT(decode_bdev("{\"foo\":1}", &p, err, 8, false) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Unknown");
}

struct many {
	uint8_t v[100];
};

static void
test_decode_object_many_decoders(void)
{
	struct osp_json_object_decoder decoders[100];
	char names[100][8];
	struct many m = {};
	char err[128];
	cJSON *v;
	int i;

	/* More decoders than the on-stack "seen" table. */
	v = cJSON_CreateObject();
	for (i = 0; i < 100; i++) {
		snprintf(names[i], sizeof(names[i]), "p%d", i);
		decoders[i].name = names[i];
		decoders[i].offset = offsetof(struct many, v) + (size_t)i;
		decoders[i].decode_func = osp_json_decode_uint8;
		decoders[i].optional = i >= 90;
		if (i < 95) {
			cJSON_AddNumberToObject(v, names[i], i);
		}
	}
	CU_ASSERT(osp_json_decode_object(v, decoders, 100, &m, err, sizeof(err)) == 0);
	CU_ASSERT(m.v[0] == 0 && m.v[94] == 94 && m.v[95] == 0);
	decoders[99].optional = false;
	CU_ASSERT(osp_json_decode_object(v, decoders, 100, &m, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Missing parameter 'p99'");
	cJSON_Delete(v);
}

/* A custom decoder built on osp_json_decode_array, as RPCs write them. */
struct u32_list {
	uint32_t v[4];
	size_t n;
};

static int
decode_u32_list(const cJSON *val, void *out, char *err, size_t errlen)
{
	struct u32_list *l = out;

	return osp_json_decode_array(val, osp_json_decode_uint32, l->v, 4, &l->n,
				     sizeof(l->v[0]), err, errlen);
}

struct with_list {
	struct u32_list list;
};

static const struct osp_json_object_decoder g_list_decoders[] = {
	{"cores", offsetof(struct with_list, list), decode_u32_list},
};

static void
test_decode_array(void)
{
	struct with_list wl;
	char *strs[3] = {};
	size_t n = 99, i;
	char err[128];
	cJSON *v;

	v = P("[1,2,3]");
	memset(&wl, 0, sizeof(wl));
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_uint32, wl.list.v, 4, &n,
					sizeof(uint32_t), err, sizeof(err)) == 0);
	CU_ASSERT(n == 3 && wl.list.v[0] == 1 && wl.list.v[2] == 3);
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_uint32, wl.list.v, 3, &n,
					sizeof(uint32_t), err, sizeof(err)) == 0);
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_uint32, wl.list.v, 2, &n,
					sizeof(uint32_t), err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "too many elements (at most 2)");
	cJSON_Delete(v);

	v = P("[]");
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_uint32, wl.list.v, 4, &n,
					sizeof(uint32_t), err, sizeof(err)) == 0 && n == 0);
	cJSON_Delete(v);

	v = P("{\"a\":1}");
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_uint32, wl.list.v, 4, &n,
					sizeof(uint32_t), err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "expected array");
	cJSON_Delete(v);

	/* Strings: the count tells how many to free even on error. */
	v = P("[\"a\",\"b\",3]");
	CU_ASSERT(osp_json_decode_array(v, osp_json_decode_string, strs, 3, &n, sizeof(char *),
					err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "element 2: expected string");
	CU_ASSERT(n == 2 && strcmp(strs[1], "b") == 0);
	for (i = 0; i < n; i++) {
		free(strs[i]);
	}
	cJSON_Delete(v);

	/* Nested in an object: the message names the parameter and the element. */
	v = P("{\"cores\":[1,-2]}");
	CU_ASSERT(osp_json_decode_object(v, g_list_decoders, 1, &wl, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'cores': element 1: expected uint32");
	cJSON_Delete(v);
	v = P("{\"cores\":[1,2,3,4,5]}");
	CU_ASSERT(osp_json_decode_object(v, g_list_decoders, 1, &wl, err, sizeof(err)) == -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "Invalid parameter 'cores': too many elements (at most 4)");
	cJSON_Delete(v);
	v = P("{\"cores\":[7,8]}");
	CU_ASSERT(osp_json_decode_object(v, g_list_decoders, 1, &wl, err, sizeof(err)) == 0);
	CU_ASSERT(wl.list.n == 2 && wl.list.v[1] == 8);
	cJSON_Delete(v);
}

static char *
nested(int depth, const char *open, const char *close)
{
	size_t ol = strlen(open), cl = strlen(close);
	char *s = malloc((size_t)depth * (ol + cl) + 1), *p = s;
	int i;

	for (i = 0; i < depth; i++, p += ol) {
		memcpy(p, open, ol);
	}
	for (i = 0; i < depth; i++, p += cl) {
		memcpy(p, close, cl);
	}
	*p = '\0';
	return s;
}

/* {"a":{"a":...{}...}} with depth levels of objects. */
static char *
nested_obj(int depth)
{
	char *s = malloc((size_t)depth * 6 + 3), *p = s;
	int i;

	for (i = 0; i < depth - 1; i++, p += 5) {
		memcpy(p, "{\"a\":", 5);
	}
	memcpy(p, "{}", 2);
	p += 2;
	for (i = 0; i < depth - 1; i++) {
		*p++ = '}';
	}
	*p = '\0';
	return s;
}

static void
test_parse(void)
{
	const char text[] = "{\"a\": [1, 2, {\"b\": \"x\"}]}";
	cJSON *v;
	char *s;

	v = osp_json_parse(text, strlen(text));
	CU_ASSERT_FATAL(v != NULL);
	CU_ASSERT(cJSON_GetArraySize(cJSON_GetObjectItem(v, "a")) == 3);
	cJSON_Delete(v);

	/* Length-bounded: text need not be NUL terminated, bytes past len are not read. */
	v = osp_json_parse("[1,2]GARBAGE", 5);
	CU_ASSERT(v != NULL && cJSON_GetArraySize(v) == 2);
	cJSON_Delete(v);
	CU_ASSERT(osp_json_parse("[1,2]GARBAGE", 6) == NULL);
	CU_ASSERT(osp_json_parse("[1,2", 4) == NULL);
	CU_ASSERT(osp_json_parse("{\"a\":1}", 3) == NULL);
	/* Trailing whitespace is fine, trailing values are not. */
	v = osp_json_parse("{} \n\t", 5);
	CU_ASSERT(v != NULL);
	cJSON_Delete(v);
	CU_ASSERT(osp_json_parse("{} {}", 5) == NULL);
	CU_ASSERT(osp_json_parse("", 0) == NULL);
	CU_ASSERT(osp_json_parse(NULL, 3) == NULL);
	CU_ASSERT(osp_json_parse("{\"a\":}", 6) == NULL);
	CU_ASSERT(osp_json_parse("[1,]x", 4) == NULL);
	/* Embedded NUL bytes are not JSON. */
	CU_ASSERT(osp_json_parse("[1,\0 2]", 7) == NULL);
	/* Brackets inside strings do not count as nesting. */
	v = osp_json_parse("[\"]]]\\\"[[[\"]", 12);
	CU_ASSERT(v != NULL && strcmp(cJSON_GetArrayItem(v, 0)->valuestring, "]]]\"[[[") == 0);
	cJSON_Delete(v);
	/* Scalars are values too. */
	v = osp_json_parse("42", 2);
	CU_ASSERT(v != NULL && cJSON_IsNumber(v));
	cJSON_Delete(v);

	/* Depth limit: 64 levels parse, 65 do not (objects and arrays, mixed). */
	s = nested(OSP_JSON_MAX_DEPTH, "[", "]");
	v = osp_json_parse(s, strlen(s));
	CU_ASSERT(v != NULL);
	cJSON_Delete(v);
	free(s);
	s = nested(OSP_JSON_MAX_DEPTH + 1, "[", "]");
	CU_ASSERT(osp_json_parse(s, strlen(s)) == NULL);
	free(s);
	/* Objects: 63 wrappers around {} is depth 64. */
	s = nested_obj(OSP_JSON_MAX_DEPTH);
	v = osp_json_parse(s, strlen(s));
	CU_ASSERT(v != NULL);
	cJSON_Delete(v);
	free(s);
	s = nested_obj(OSP_JSON_MAX_DEPTH + 1);
	CU_ASSERT(osp_json_parse(s, strlen(s)) == NULL);
	free(s);
	s = nested(OSP_JSON_MAX_DEPTH + 1, "{\"a\":[", "]}");
	CU_ASSERT(osp_json_parse(s, strlen(s)) == NULL);
	free(s);
	/* Very deep input (cJSON's own limit is 1000) is refused without recursion. */
	s = nested(100000, "[", "]");
	CU_ASSERT(osp_json_parse(s, strlen(s)) == NULL);
	free(s);
	/* Unbalanced closers. */
	CU_ASSERT(osp_json_parse("]]", 2) == NULL);
}

static void
test_builders(void)
{
	cJSON *obj, *arr, *call, *params;
	char *text;

	obj = cJSON_CreateObject();
	CU_ASSERT(osp_json_add_uint64(obj, "n", 1ULL << 40) != NULL);
	CU_ASSERT(osp_json_add_string_fmt(obj, "s", "%s-%d", "Malloc", 3) != NULL);
	text = cJSON_PrintUnformatted(obj);
	CU_ASSERT_STRING_EQUAL(text, "{\"n\":1099511627776,\"s\":\"Malloc-3\"}");
	cJSON_free(text);
	cJSON_Delete(obj);

	arr = cJSON_CreateArray();
	params = cJSON_CreateObject();
	cJSON_AddStringToObject(params, "name", "Malloc0");
	call = osp_json_add_rpc_call(arr, "bdev_malloc_create", params);
	CU_ASSERT(call != NULL);
	CU_ASSERT(osp_json_add_rpc_call(arr, "framework_start_init", NULL) != NULL);
	text = cJSON_PrintUnformatted(arr);
	CU_ASSERT_STRING_EQUAL(text, "[{\"method\":\"bdev_malloc_create\",\"params\":{\"name\":"
			       "\"Malloc0\"}},{\"method\":\"framework_start_init\"}]");
	cJSON_free(text);
	cJSON_Delete(arr);
}

static void
test_print_exact(void)
{
	const char in[] = "{\"a\":[0,-1,2147483648,999999999999999,1000000000000001,"
			  "9007199254740992,18446744073709549568,-9007199254740991],"
			  "\"b\":{\"c\":0.1,\"d\":0.12345678901234566,\"e\":-1.5e-300,\"f\":1e300},"
			  "\"g\":\"12345678901234567\",\"h\":true}";
	const char expected[] = "{\"a\":[0,-1,2147483648,999999999999999,1000000000000001,"
				"9007199254740992,18446744073709549568,-9007199254740991],"
				"\"b\":{\"c\":0.1,\"d\":0.12345678901234566,\"e\":-1.5e-300,\"f\":1";
	cJSON *v = P(in), *n;
	char *text, *plain;

	text = osp_json_print(v);
	CU_ASSERT_FATAL(text != NULL);
	CU_ASSERT(strncmp(text, expected, strlen(expected)) == 0);
	CU_ASSERT(strstr(text, "\"f\":1e+300},\"g\":\"12345678901234567\",\"h\":true}") != NULL);
	/* Reads back to the same doubles. */
	n = cJSON_Parse(text);
	CU_ASSERT(cJSON_Compare(v, n, 1));
	cJSON_Delete(n);
	free(text);
	/* The tree is unchanged: still numbers, and cJSON's own output is as before. */
	CU_ASSERT(cJSON_IsNumber(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "a"), 4)));
	plain = cJSON_PrintUnformatted(v);
	CU_ASSERT(strstr(plain, "9.00719925474099e+15") != NULL);
	cJSON_free(plain);
	/* Printing one member prints only that member, not its siblings. */
	text = osp_json_print(cJSON_GetObjectItem(v, "b"));
	CU_ASSERT(text != NULL && text[0] == '{' && strstr(text, "\"g\"") == NULL);
	free(text);
	text = osp_json_print(cJSON_GetArrayItem(cJSON_GetObjectItem(v, "a"), 5));
	CU_ASSERT_STRING_EQUAL(text, "9007199254740992");
	free(text);
	CU_ASSERT(osp_json_print(NULL) == NULL);
	cJSON_Delete(v);
}

static void
test_read_file(void)
{
	char path[] = "/tmp/osp_json_ut_XXXXXX";
	size_t len = 0, i;
	char *buf, *big;
	int fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	CU_ASSERT(write(fd, "{\"a\":1}", 7) == 7);
	close(fd);
	buf = osp_json_read_file(path, &len);
	CU_ASSERT(buf != NULL && len == 7 && strcmp(buf, "{\"a\":1}") == 0);
	free(buf);

	/* Larger than the first guess. */
	big = malloc(100000);
	for (i = 0; i < 100000; i++) {
		big[i] = (char)('a' + i % 26);
	}
	fd = open(path, O_WRONLY | O_TRUNC);
	CU_ASSERT(write(fd, big, 100000) == 100000);
	close(fd);
	buf = osp_json_read_file(path, &len);
	CU_ASSERT(buf != NULL && len == 100000 && memcmp(buf, big, len) == 0 && buf[len] == '\0');
	free(buf);
	free(big);
	unlink(path);

	errno = 0;
	CU_ASSERT(osp_json_read_file("/nonexistent/osp.json", &len) == NULL);
	CU_ASSERT(errno == ENOENT);
	/* Not a regular file: read until EOF all the same. */
	buf = osp_json_read_file("/dev/null", &len);
	CU_ASSERT(buf != NULL && len == 0 && buf[0] == '\0');
	free(buf);
}

int
main(void)
{
	CU_pSuite suite;
	int rc;

	CU_initialize_registry();
	suite = CU_add_suite("json", NULL, NULL);
	CU_ADD_TEST(suite, test_decode_bool);
	CU_ADD_TEST(suite, test_decode_uint8_16);
	CU_ADD_TEST(suite, test_decode_uint32);
	CU_ADD_TEST(suite, test_decode_64);
	CU_ADD_TEST(suite, test_decode_int32_double);
	CU_ADD_TEST(suite, test_decode_string_raw);
	CU_ADD_TEST(suite, test_decode_object);
	CU_ADD_TEST(suite, test_decode_object_many_decoders);
	CU_ADD_TEST(suite, test_decode_array);
	CU_ADD_TEST(suite, test_parse);
	CU_ADD_TEST(suite, test_builders);
	CU_ADD_TEST(suite, test_print_exact);
	CU_ADD_TEST(suite, test_read_file);
	rc = ut_run_suites();
	return rc;
}

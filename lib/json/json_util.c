/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Typed, table-driven decoding of cJSON values and a few building helpers.
 *
 * Numbers: cJSON keeps every number as a double, so integers are exact only
 * up to 2^53. The integer decoders accept a value only if that double is an
 * exact integer inside the target type's range; an integer literal above
 * 2^53 has already been rounded by cJSON to the nearest double and is
 * accepted as that (rounded) value. Parameters that need all 64 bits exactly
 * (none of the RPCs we implement do) would have to be passed as strings.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "osprey/json.h"
#include "osprey/util.h"

/*
 * The number in val if it is a finite, exact integer within [min, max]
 * (max and min are exactly representable bounds; the upper bound is
 * exclusive when max_exclusive is set, for 2^63 and 2^64).
 */
static bool
json_integer(const cJSON *val, double min, double max, bool max_exclusive, double *out)
{
	double d;

	if (!cJSON_IsNumber(val)) {
		return false;
	}
	d = val->valuedouble;
	if (!isfinite(d) || d != trunc(d)) {
		return false;
	}
	if (d < min || d > max || (max_exclusive && d == max)) {
		return false;
	}
	*out = d;
	return true;
}

/*
 * What osp_json_parse() turns a \u0000 escape inside a string into: the
 * overlong two-byte form of NUL, which is not valid UTF-8 and so cannot stand
 * for anything else, where cJSON would end the C string.
 */
#define JSON_NUL_MARK "\xc0\x80"

int
osp_json_decode_bool(const cJSON *val, void *out, char *err, size_t errlen)
{
	if (!cJSON_IsBool(val)) {
		osp_seterr(err, errlen, "expected bool");
		return -EINVAL;
	}
	*(bool *)out = cJSON_IsTrue(val);
	return 0;
}

int
osp_json_decode_int32(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	if (!json_integer(val, (double)INT32_MIN, (double)INT32_MAX, false, &d)) {
		osp_seterr(err, errlen, "expected int32");
		return -EINVAL;
	}
	*(int32_t *)out = (int32_t)d;
	return 0;
}

int
osp_json_decode_uint8(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	if (!json_integer(val, 0, UINT8_MAX, false, &d)) {
		osp_seterr(err, errlen, "expected uint8");
		return -EINVAL;
	}
	*(uint8_t *)out = (uint8_t)d;
	return 0;
}

int
osp_json_decode_uint16(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	if (!json_integer(val, 0, UINT16_MAX, false, &d)) {
		osp_seterr(err, errlen, "expected uint16");
		return -EINVAL;
	}
	*(uint16_t *)out = (uint16_t)d;
	return 0;
}

int
osp_json_decode_uint32(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	if (!json_integer(val, 0, (double)UINT32_MAX, false, &d)) {
		osp_seterr(err, errlen, "expected uint32");
		return -EINVAL;
	}
	*(uint32_t *)out = (uint32_t)d;
	return 0;
}

int
osp_json_decode_uint64(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	/* 2^64 is the first double past UINT64_MAX: exclusive bound. */
	if (!json_integer(val, 0, 18446744073709551616.0, true, &d)) {
		osp_seterr(err, errlen, "expected uint64");
		return -EINVAL;
	}
	*(uint64_t *)out = (uint64_t)d;
	return 0;
}

int
osp_json_decode_int64(const cJSON *val, void *out, char *err, size_t errlen)
{
	double d;

	/* -2^63 is exact; 2^63 is the first double past INT64_MAX. */
	if (!json_integer(val, -9223372036854775808.0, 9223372036854775808.0, true, &d)) {
		osp_seterr(err, errlen, "expected int64");
		return -EINVAL;
	}
	*(int64_t *)out = (int64_t)d;
	return 0;
}

int
osp_json_decode_double(const cJSON *val, void *out, char *err, size_t errlen)
{
	if (!cJSON_IsNumber(val) || !isfinite(val->valuedouble)) {
		osp_seterr(err, errlen, "expected number");
		return -EINVAL;
	}
	*(double *)out = val->valuedouble;
	return 0;
}

int
osp_json_decode_string(const cJSON *val, void *out, char *err, size_t errlen)
{
	char **str = out;
	char *copy;

	if (!cJSON_IsString(val) || val->valuestring == NULL) {
		osp_seterr(err, errlen, "expected string");
		return -EINVAL;
	}
	if (strstr(val->valuestring, JSON_NUL_MARK) != NULL) {
		/* C strings end at a NUL: "a\u0000b" would silently become "a". */
		osp_seterr(err, errlen, "string contains a NUL character (\\u0000)");
		return -EINVAL;
	}
	copy = strdup(val->valuestring);
	if (copy == NULL) {
		osp_seterr(err, errlen, "out of memory");
		return -ENOMEM;
	}
	free(*str);
	*str = copy;
	return 0;
}

int
osp_json_decode_raw(const cJSON *val, void *out, char *err, size_t errlen)
{
	if (val == NULL) {
		osp_seterr(err, errlen, "missing value");
		return -EINVAL;
	}
	*(const cJSON **)out = val;
	return 0;
}

static int
json_decode_object(const cJSON *values, const struct osp_json_object_decoder *decoders,
		   size_t num_decoders, void *out, char *err, size_t errlen, bool relaxed)
{
	bool seen_small[64];
	bool *seen = seen_small;
	const cJSON *member;
	char reason[256];
	size_t i;
	int rc = 0;

	if (values != NULL && !cJSON_IsObject(values)) {
		osp_seterr(err, errlen, "Invalid parameters: expected an object");
		return -EINVAL;
	}
	if (num_decoders > sizeof(seen_small) / sizeof(seen_small[0])) {
		seen = calloc(num_decoders, sizeof(*seen));
		if (seen == NULL) {
			osp_seterr(err, errlen, "Out of memory");
			return -ENOMEM;
		}
	} else {
		memset(seen_small, 0, sizeof(seen_small));
	}

	for (member = values != NULL ? values->child : NULL; member != NULL; member = member->next) {
		const char *name = member->string != NULL ? member->string : "";

		for (i = 0; i < num_decoders; i++) {
			if (strcmp(decoders[i].name, name) == 0) {
				break;
			}
		}
		if (i == num_decoders) {
			if (relaxed) {
				continue;
			}
			osp_seterr(err, errlen, "Unknown parameter '%s'", name);
			rc = -EINVAL;
			goto out;
		}
		if (seen[i]) {
			osp_seterr(err, errlen, "Duplicate parameter '%s'", name);
			rc = -EINVAL;
			goto out;
		}
		seen[i] = true;
		reason[0] = '\0';
		rc = decoders[i].decode_func(member, (char *)out + decoders[i].offset, reason,
					     sizeof(reason));
		if (rc != 0) {
			osp_seterr(err, errlen, "Invalid parameter '%s': %s", name,
				reason[0] != '\0' ? reason : "invalid value");
			rc = rc == -ENOMEM ? -ENOMEM : -EINVAL;
			goto out;
		}
	}

	for (i = 0; i < num_decoders; i++) {
		if (!seen[i] && !decoders[i].optional) {
			osp_seterr(err, errlen, "Missing parameter '%s'", decoders[i].name);
			rc = -EINVAL;
			goto out;
		}
	}
out:
	if (seen != seen_small) {
		free(seen);
	}
	return rc;
}

int
osp_json_decode_object(const cJSON *values, const struct osp_json_object_decoder *decoders,
		       size_t num_decoders, void *out, char *err, size_t errlen)
{
	return json_decode_object(values, decoders, num_decoders, out, err, errlen, false);
}

int
osp_json_decode_object_relaxed(const cJSON *values,
			       const struct osp_json_object_decoder *decoders,
			       size_t num_decoders, void *out, char *err, size_t errlen)
{
	return json_decode_object(values, decoders, num_decoders, out, err, errlen, true);
}

void
osp_json_free_object(const struct osp_json_object_decoder *decoders, size_t num_decoders,
		     void *out)
{
	size_t i;

	for (i = 0; i < num_decoders; i++) {
		if (decoders[i].decode_func == osp_json_decode_string) {
			char **str = (char **)((char *)out + decoders[i].offset);

			free(*str);
			*str = NULL;
		}
	}
}

int
osp_json_decode_array(const cJSON *values, osp_json_decode_fn decode_func, void *out,
		      size_t max_size, size_t *out_size, size_t stride, char *err,
		      size_t errlen)
{
	const cJSON *elem;
	char reason[256];
	size_t i = 0;
	int rc;

	*out_size = 0;
	if (!cJSON_IsArray(values)) {
		osp_seterr(err, errlen, "expected array");
		return -EINVAL;
	}
	for (elem = values->child; elem != NULL; elem = elem->next) {
		if (i >= max_size) {
			osp_seterr(err, errlen, "too many elements (at most %zu)", max_size);
			return -EINVAL;
		}
		reason[0] = '\0';
		rc = decode_func(elem, (char *)out + i * stride, reason, sizeof(reason));
		if (rc != 0) {
			osp_seterr(err, errlen, "element %zu: %s", i,
				reason[0] != '\0' ? reason : "invalid value");
			return rc == -ENOMEM ? rc : -EINVAL;
		}
		i++;
		/* Keep the count current so the caller can free decoded elements. */
		*out_size = i;
	}
	return 0;
}

/*
 * Check nesting (and reject NUL bytes, which cannot occur in JSON text) by
 * counting brackets outside strings, so that cJSON never recurses deeper
 * than OSP_JSON_MAX_DEPTH.
 */
static bool
json_depth_ok(const char *text, size_t len)
{
	bool in_string = false, escape = false;
	size_t depth = 0, i;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (c == '\0') {
			return false;
		}
		if (in_string) {
			if (escape) {
				escape = false;
			} else if (c == '\\') {
				escape = true;
			} else if (c == '"') {
				in_string = false;
			}
			continue;
		}
		switch (c) {
		case '"':
			in_string = true;
			break;
		case '{':
		case '[':
			if (++depth > OSP_JSON_MAX_DEPTH) {
				return false;
			}
			break;
		case '}':
		case ']':
			if (depth == 0) {
				return false;
			}
			depth--;
			break;
		default:
			break;
		}
	}
	return true;
}

/*
 * Copy len bytes of JSON text to dst (NUL-terminated), replacing each \u0000
 * escape inside a string with JSON_NUL_MARK so that the decoders can refuse
 * the string instead of seeing it cut short. Returns the new length.
 */
static size_t
json_copy_marking_nul(char *dst, const char *text, size_t len)
{
	bool in_string = false, escape = false;
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (escape) {
				escape = false;
			} else if (c == '\\') {
				if (len - i >= 6 && memcmp(text + i + 1, "u0000", 5) == 0) {
					memcpy(dst + o, JSON_NUL_MARK, 2);
					o += 2;
					i += 5;
					continue;
				}
				escape = true;
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		}
		dst[o++] = c;
	}
	dst[o] = '\0';
	return o;
}

cJSON *
osp_json_parse(const char *text, size_t len)
{
	const char *end = NULL;
	char *copy;
	cJSON *root;
	size_t i;

	if (text == NULL || len == 0 || !json_depth_ok(text, len)) {
		return NULL;
	}
	/*
	 * Parse a NUL-terminated copy: cJSON's length-bounded parser is then
	 * also protected against reading past len by the terminator.
	 */
	copy = malloc(len + 1);
	if (copy == NULL) {
		return NULL;
	}
	len = json_copy_marking_nul(copy, text, len);
	root = cJSON_ParseWithLengthOpts(copy, len, &end, 0);
	if (root != NULL) {
		/* Only whitespace may follow the value. */
		for (i = (size_t)(end - copy); i < len; i++) {
			if (copy[i] != ' ' && copy[i] != '\t' && copy[i] != '\n' && copy[i] != '\r') {
				cJSON_Delete(root);
				root = NULL;
				break;
			}
		}
	}
	free(copy);
	return root;
}

/* Numbers cJSON prints exactly by itself: integers of at most 15 digits. */
static bool
json_number_needs_text(double d)
{
	return isfinite(d) && !(d == trunc(d) && fabs(d) < 1e15);
}

static void
json_number_text(double d, char *buf, size_t len)
{
	int prec;

	/* Integers in full up to 1e21 (as JavaScript does), so clients read ints. */
	if (d == trunc(d) && fabs(d) < 1e21) {
		snprintf(buf, len, "%.0f", d);
		return;
	}
	for (prec = 15; prec < 17; prec++) {
		snprintf(buf, len, "%.*g", prec, d);
		if (strtod(buf, NULL) == d) {
			return;
		}
	}
	snprintf(buf, len, "%.17g", d);
}

struct json_fixups {
	cJSON **items;
	size_t count;
	size_t cap;
	bool failed;
};

/* Turn numbers cJSON would round into raw text, remembering them for restore. */
static void
json_fix_numbers(cJSON *item, struct json_fixups *fx)
{
	char text[400];
	cJSON **tmp;

	for (; item != NULL && !fx->failed; item = item->next) {
		if (cJSON_IsNumber(item) && json_number_needs_text(item->valuedouble)) {
			if (fx->count == fx->cap) {
				fx->cap = fx->cap != 0 ? fx->cap * 2 : 16;
				tmp = realloc(fx->items, fx->cap * sizeof(*tmp));
				if (tmp == NULL) {
					fx->failed = true;
					return;
				}
				fx->items = tmp;
			}
			json_number_text(item->valuedouble, text, sizeof(text));
			item->valuestring = strdup(text);
			if (item->valuestring == NULL) {
				fx->failed = true;
				return;
			}
			item->type = (item->type & ~0xff) | cJSON_Raw;
			fx->items[fx->count++] = item;
		} else if (item->child != NULL) {
			json_fix_numbers(item->child, fx);
		}
	}
}

char *
osp_json_print(const cJSON *item)
{
	struct json_fixups fx = {};
	cJSON *it = (cJSON *)item;
	char *text = NULL;
	size_t i;

	if (item == NULL) {
		return NULL;
	}
	/* Only the node itself, not its siblings. */
	if (cJSON_IsNumber(it) || it->child != NULL) {
		cJSON *next = it->next;

		it->next = NULL;
		json_fix_numbers(it, &fx);
		it->next = next;
	}
	if (!fx.failed) {
		/* cJSON allocates with malloc(): Osprey never installs other hooks. */
		text = cJSON_PrintUnformatted(it);
	}
	for (i = 0; i < fx.count; i++) {
		free(fx.items[i]->valuestring);
		fx.items[i]->valuestring = NULL;
		fx.items[i]->type = (fx.items[i]->type & ~0xff) | cJSON_Number;
	}
	free(fx.items);
	return text;
}

cJSON *
osp_json_add_uint64(cJSON *obj, const char *name, uint64_t val)
{
	/* Exact up to 2^53 (cJSON numbers are doubles). */
	return cJSON_AddNumberToObject(obj, name, (double)val);
}

cJSON *
osp_json_add_string_fmt(cJSON *obj, const char *name, const char *fmt, ...)
{
	va_list ap;
	char *str;
	cJSON *item;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&str, fmt, ap);
	va_end(ap);
	if (rc < 0) {
		return NULL;
	}
	item = cJSON_AddStringToObject(obj, name, str);
	free(str);
	return item;
}

cJSON *
osp_json_add_rpc_call(cJSON *array, const char *method, cJSON *params)
{
	cJSON *call;

	call = cJSON_CreateObject();
	if (call == NULL || cJSON_AddStringToObject(call, "method", method) == NULL) {
		cJSON_Delete(call);
		cJSON_Delete(params);
		return NULL;
	}
	if (params != NULL && !cJSON_AddItemToObject(call, "params", params)) {
		cJSON_Delete(call);
		cJSON_Delete(params);
		return NULL;
	}
	if (!cJSON_AddItemToArray(array, call)) {
		cJSON_Delete(call);
		return NULL;
	}
	return call;
}

char *
osp_json_read_file(const char *path, size_t *len)
{
	size_t cap = 4096, used = 0;
	char *buf, *tmp;
	struct stat st;
	ssize_t n;
	int fd, saved;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		return NULL;
	}
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
		cap = (size_t)st.st_size + 1;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		close(fd);
		errno = ENOMEM;
		return NULL;
	}
	for (;;) {
		if (used + 1 >= cap) {
			tmp = realloc(buf, cap * 2);
			if (tmp == NULL) {
				free(buf);
				close(fd);
				errno = ENOMEM;
				return NULL;
			}
			buf = tmp;
			cap *= 2;
		}
		n = read(fd, buf + used, cap - used - 1);
		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			saved = errno;
			free(buf);
			close(fd);
			errno = saved;
			return NULL;
		}
		if (n == 0) {
			break;
		}
		used += (size_t)n;
	}
	close(fd);
	buf[used] = '\0';
	if (len != NULL) {
		*len = used;
	}
	return buf;
}

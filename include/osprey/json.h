/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * JSON helpers on top of cJSON: typed, table-driven decoding of objects so
 * every RPC validates its parameters the same way and names the bad one.
 */
#ifndef OSPREY_JSON_H
#define OSPREY_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cJSON.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Largest nesting accepted by osp_json_parse(). */
#define OSP_JSON_MAX_DEPTH 64

/*
 * Decoder of one value into out. Returns 0, or a negative errno; on error
 * it may write a short reason ("expected uint32") into err (errlen bytes).
 */
typedef int (*osp_json_decode_fn)(const cJSON *val, void *out, char *err, size_t errlen);

struct osp_json_object_decoder {
	const char *name;	/* member name */
	size_t offset;		/* offset of the destination in the output struct */
	osp_json_decode_fn decode_func;
	bool optional;
};

/*
 * Decode object values using decoders. Members not in the table are an error
 * (unknown parameter), so are missing non-optional ones. On error returns
 * -EINVAL and writes a message naming the parameter into err, e.g.
 * "Invalid parameter 'block_size': expected uint32".
 * Strings decoded with osp_json_decode_string are malloc'd: release them
 * with osp_json_free_object() even on error.
 */
int osp_json_decode_object(const cJSON *values, const struct osp_json_object_decoder *decoders,
			   size_t num_decoders, void *out, char *err, size_t errlen);
/* Like osp_json_decode_object but unknown members are ignored. */
int osp_json_decode_object_relaxed(const cJSON *values,
				   const struct osp_json_object_decoder *decoders,
				   size_t num_decoders, void *out, char *err, size_t errlen);
/* free() every string decoded by osp_json_decode_string in out. */
void osp_json_free_object(const struct osp_json_object_decoder *decoders, size_t num_decoders,
			  void *out);

/*
 * Decode an array: each element with decode_func into out + i * stride,
 * at most max_size elements; *out_size receives the count.
 */
int osp_json_decode_array(const cJSON *values, osp_json_decode_fn decode_func, void *out,
			  size_t max_size, size_t *out_size, size_t stride, char *err,
			  size_t errlen);

int osp_json_decode_bool(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_int32(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_uint8(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_uint16(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_uint32(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_uint64(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_int64(const cJSON *val, void *out, char *err, size_t errlen);
int osp_json_decode_double(const cJSON *val, void *out, char *err, size_t errlen);
/* out is a char **; the string is strdup'd (free any previous value first). */
int osp_json_decode_string(const cJSON *val, void *out, char *err, size_t errlen);
/* out is a const cJSON **: keeps a pointer to the raw value (any type). */
int osp_json_decode_raw(const cJSON *val, void *out, char *err, size_t errlen);

/*
 * Parse text (len bytes, not necessarily NUL terminated) with a nesting limit
 * of OSP_JSON_MAX_DEPTH. Returns NULL on bad JSON or too deep nesting.
 */
cJSON *osp_json_parse(const char *text, size_t len);

/*
 * Like cJSON_PrintUnformatted() (free the result with free()), but every
 * number is written exactly: cJSON itself rounds numbers to 15 significant
 * digits. Integers below 1e21 are written in full ("9007199254740992" rather
 * than "9.00719925474099e+15"), other numbers with the shortest text that
 * reads back as the same double. NULL on ENOMEM. item is modified while
 * printing and restored before return.
 */
char *osp_json_print(const cJSON *item);

/*
 * Add members with typed values; all return the added item or NULL on ENOMEM.
 * osp_json_add_uint64 stores a double: exact up to 2^53.
 */
cJSON *osp_json_add_uint64(cJSON *obj, const char *name, uint64_t val);
cJSON *osp_json_add_string_fmt(cJSON *obj, const char *name, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* Build {"method": method, "params": params} and append it to array; takes params. */
cJSON *osp_json_add_rpc_call(cJSON *array, const char *method, cJSON *params);

/* Read a whole file; returns a malloc'd NUL-terminated buffer or NULL (errno set). */
char *osp_json_read_file(const char *path, size_t *len);

#ifdef __cplusplus
}
#endif
#endif /* OSPREY_JSON_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/* Small shared helpers: CRC-32C, number parsing, strings, UUIDs. */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <nmmintrin.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include "osprey/util.h"

void
osp_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0) {
		return;
	}
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

uint32_t
osp_crc32c_update(const void *buf, size_t len, uint32_t crc)
{
	const uint8_t *p = buf;
	uint64_t crc64 = crc;

	/* SSE4.2 CRC32 instruction implements the Castagnoli polynomial. */
	while (len >= 8) {
		uint64_t v;

		memcpy(&v, p, 8);
		crc64 = _mm_crc32_u64(crc64, v);
		p += 8;
		len -= 8;
	}
	crc = (uint32_t)crc64;
	while (len--) {
		crc = _mm_crc32_u8(crc, *p++);
	}
	return crc;
}

uint32_t
osp_crc32c_iov_update(const struct iovec *iov, int iovcnt, uint32_t crc)
{
	int i;

	for (i = 0; i < iovcnt; i++) {
		crc = osp_crc32c_update(iov[i].iov_base, iov[i].iov_len, crc);
	}
	return crc;
}

int
osp_parse_u64(const char *str, int base, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (str == NULL || *str == '\0' || *str == '-' || isspace((unsigned char)*str)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(str, &end, base);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	if (*end != '\0') {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
osp_parse_i64(const char *str, int base, int64_t *out)
{
	long long v;
	char *end;

	if (str == NULL || *str == '\0' || isspace((unsigned char)*str)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoll(str, &end, base);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	if (*end != '\0') {
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int
osp_parse_capacity(const char *str, uint64_t *out)
{
	unsigned long long v;
	uint64_t mult = 1;
	char *end;

	if (str == NULL || !isdigit((unsigned char)*str)) {
		return -EINVAL;
	}
	errno = 0;
	v = strtoull(str, &end, 10);
	if (errno == ERANGE) {
		return -ERANGE;
	}
	switch (toupper((unsigned char)*end)) {
	case '\0':
		break;
	case 'K':
		mult = 1ULL << 10;
		break;
	case 'M':
		mult = 1ULL << 20;
		break;
	case 'G':
		mult = 1ULL << 30;
		break;
	case 'T':
		mult = 1ULL << 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end != '\0') {
		end++;
		if (toupper((unsigned char)*end) == 'B') {
			end++;
		}
		if (*end != '\0') {
			return -EINVAL;
		}
	}
	if (v > UINT64_MAX / mult) {
		return -ERANGE;
	}
	*out = v * mult;
	return 0;
}

char *
osp_sprintf_alloc(const char *fmt, ...)
{
	va_list ap;
	char *s;
	int rc;

	va_start(ap, fmt);
	rc = vasprintf(&s, fmt, ap);
	va_end(ap);
	return rc < 0 ? NULL : s;
}

char *
osp_str_trim(char *str)
{
	char *start = str, *end;

	while (isspace((unsigned char)*start)) {
		start++;
	}
	end = start + strlen(start);
	while (end > start && isspace((unsigned char)end[-1])) {
		end--;
	}
	*end = '\0';
	if (start != str) {
		memmove(str, start, end - start + 1);
	}
	return str;
}

void
osp_strcpy_pad(void *dst, const char *src, size_t size, int pad)
{
	size_t len = strlen(src);

	if (len >= size) {
		memcpy(dst, src, size);
	} else {
		memcpy(dst, src, len);
		memset((char *)dst + len, pad, size - len);
	}
}

size_t
osp_strlen_pad(const void *str, size_t size, int pad)
{
	const char *s = str;

	while (size > 0 && (s[size - 1] == pad || s[size - 1] == '\0')) {
		size--;
	}
	return size;
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9') {
		return c - '0';
	}
	c = tolower(c);
	if (c >= 'a' && c <= 'f') {
		return c - 'a' + 10;
	}
	return -1;
}

int
osp_uuid_parse(struct osp_uuid *uuid, const char *str)
{
	size_t i, j = 0;

	if (str == NULL || strlen(str) != 36) {
		return -EINVAL;
	}
	for (i = 0; i < 36;) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (str[i] != '-') {
				return -EINVAL;
			}
			i++;
			continue;
		}
		hi = hexval((unsigned char)str[i]);
		lo = hexval((unsigned char)str[i + 1]);
		if (hi < 0 || lo < 0) {
			return -EINVAL;
		}
		uuid->u[j++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

int
osp_uuid_fmt_lower(char *buf, size_t sz, const struct osp_uuid *uuid)
{
	const uint8_t *u = uuid->u;
	int n;

	n = snprintf(buf, sz, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		     "%02x%02x%02x%02x%02x%02x", u[0], u[1], u[2], u[3], u[4], u[5], u[6],
		     u[7], u[8], u[9], u[10], u[11], u[12], u[13], u[14], u[15]);
	return (n < 0 || (size_t)n >= sz) ? -EINVAL : 0;
}

void
osp_uuid_generate(struct osp_uuid *uuid)
{
	size_t got = 0;
	ssize_t n;

	while (got < sizeof(uuid->u)) {
		n = getrandom(uuid->u + got, sizeof(uuid->u) - got, 0);
		if (n <= 0) {
			break;
		}
		got += n;
	}
	/* Version 4 (random), variant RFC 4122. */
	uuid->u[6] = (uuid->u[6] & 0x0f) | 0x40;
	uuid->u[8] = (uuid->u[8] & 0x3f) | 0x80;
}

bool
osp_uuid_is_null(const struct osp_uuid *uuid)
{
	static const struct osp_uuid zero;

	return memcmp(uuid, &zero, sizeof(zero)) == 0;
}

int
osp_uuid_compare(const struct osp_uuid *a, const struct osp_uuid *b)
{
	return memcmp(a->u, b->u, sizeof(a->u));
}

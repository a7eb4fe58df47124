/* SPDX-License-Identifier: BSD-3-Clause */
/* Core sets: parse "0x3", "3" (hex mask) or "[0-1,5]" / "0-1,5" (core list). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "osprey/env.h"

#define CPUSET_MAX 1024

void
osp_cpuset_zero(struct osp_cpuset *set)
{
	memset(set, 0, sizeof(*set));
}

void
osp_cpuset_set_cpu(struct osp_cpuset *set, uint32_t cpu, bool state)
{
	if (cpu >= CPUSET_MAX) {
		return;
	}
	if (state) {
		set->bits[cpu / 64] |= 1ULL << (cpu % 64);
	} else {
		set->bits[cpu / 64] &= ~(1ULL << (cpu % 64));
	}
}

bool
osp_cpuset_get_cpu(const struct osp_cpuset *set, uint32_t cpu)
{
	if (cpu >= CPUSET_MAX) {
		return false;
	}
	return (set->bits[cpu / 64] >> (cpu % 64)) & 1;
}

uint32_t
osp_cpuset_count(const struct osp_cpuset *set)
{
	uint32_t n = 0, i;

	for (i = 0; i < CPUSET_MAX / 64; i++) {
		n += __builtin_popcountll(set->bits[i]);
	}
	return n;
}

const char *
osp_cpuset_fmt(const struct osp_cpuset *set)
{
	static __thread char buf[CPUSET_MAX / 4 + 1];
	int i, top = -1;
	size_t off = 0;

	for (i = CPUSET_MAX / 4 - 1; i >= 0; i--) {
		unsigned nib = (set->bits[i / 16] >> ((i % 16) * 4)) & 0xf;

		if (top < 0 && nib == 0 && i != 0) {
			continue;
		}
		top = i;
		buf[off++] = "0123456789abcdef"[nib];
	}
	buf[off] = '\0';
	return buf;
}

static int
parse_list(struct osp_cpuset *set, const char *s)
{
	long a, b;
	char *end;

	while (*s) {
		while (isspace((unsigned char)*s) || *s == ',') {
			s++;
		}
		if (*s == '\0' || *s == ']') {
			break;
		}
		if (!isdigit((unsigned char)*s)) {
			return -EINVAL;
		}
		a = strtol(s, &end, 10);
		b = a;
		s = end;
		if (*s == '-') {
			s++;
			if (!isdigit((unsigned char)*s)) {
				return -EINVAL;
			}
			b = strtol(s, &end, 10);
			s = end;
		}
		if (a < 0 || b < a || b >= CPUSET_MAX) {
			return -EINVAL;
		}
		for (; a <= b; a++) {
			osp_cpuset_set_cpu(set, a, true);
		}
		while (isspace((unsigned char)*s)) {
			s++;
		}
		if (*s != ',' && *s != '\0' && *s != ']') {
			return -EINVAL;
		}
	}
	return 0;
}

int
osp_cpuset_parse(struct osp_cpuset *set, const char *mask)
{
	size_t len, i;
	int rc;

	osp_cpuset_zero(set);
	if (mask == NULL) {
		return -EINVAL;
	}
	while (isspace((unsigned char)*mask)) {
		mask++;
	}
	if (mask[0] == '[') {
		len = strlen(mask);
		if (len < 2 || mask[len - 1] != ']') {
			return -EINVAL;
		}
		rc = parse_list(set, mask + 1);
	} else if (strpbrk(mask, ",-") != NULL) {
		rc = parse_list(set, mask);
	} else {
		if (mask[0] == '0' && (mask[1] == 'x' || mask[1] == 'X')) {
			mask += 2;
		}
		len = strlen(mask);
		if (len == 0 || len > CPUSET_MAX / 4) {
			return -EINVAL;
		}
		rc = 0;
		for (i = 0; i < len; i++) {
			char c = mask[len - 1 - i];
			unsigned v;

			if (!isxdigit((unsigned char)c)) {
				return -EINVAL;
			}
			v = isdigit((unsigned char)c) ? c - '0' : (tolower((unsigned char)c) - 'a' + 10);
			set->bits[(i * 4) / 64] |= (uint64_t)v << ((i * 4) % 64);
		}
	}
	if (rc == 0 && osp_cpuset_count(set) == 0) {
		rc = -EINVAL;
	}
	return rc;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * NVMe Qualified Name checks (NVMe Base Specification 2.0, §4.5). Lives here
 * until lib/nvmf exists; both the target and the initiator need it.
 */
#include <string.h>

#include "osprey/nvmf_spec.h"

static bool
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_hex(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* NQNs are UTF-8 (§4.5): reject overlong forms, surrogates and code points past U+10FFFF. */
static bool
utf8_valid(const unsigned char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n, k;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			cp = c & 0x1f;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			cp = c & 0x0f;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n >= len) {
			return false;
		}
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return false;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return false;
		}
		i += n + 1;
	}
	return true;
}

/* 8-4-4-4-12 hex digits. */
static bool
uuid_string_valid(const char *s)
{
	size_t i;

	if (strlen(s) != 36) {
		return false;
	}
	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i] != '-') {
				return false;
			}
		} else if (!is_hex(s[i])) {
			return false;
		}
	}
	return true;
}

/* "nqn.yyyy-mm." then a reverse domain name up to ':', then a non-empty remainder. */
static bool
nqn_domain_form_valid(const char *nqn)
{
	const char *p = nqn + 4, *label;
	int month;

	if (strncmp(nqn, "nqn.", 4) != 0) {
		return false;
	}
	if (!is_digit(p[0]) || !is_digit(p[1]) || !is_digit(p[2]) || !is_digit(p[3]) ||
	    p[4] != '-' || !is_digit(p[5]) || !is_digit(p[6]) || p[7] != '.') {
		return false;
	}
	month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12) {
		return false;
	}
	p += 8;
	/* Labels: letters, digits and '-', not starting or ending with '-'. */
	for (;;) {
		label = p;
		while (is_alnum(*p) || *p == '-') {
			p++;
		}
		if (p == label || label[0] == '-' || p[-1] == '-') {
			return false;
		}
		if (*p == '.') {
			p++;
			continue;
		}
		break;
	}
	return *p == ':' && p[1] != '\0';
}

bool
osp_nvmf_nqn_is_valid(const char *nqn)
{
	size_t len, prefix_len = strlen(OSP_NVMF_NQN_UUID_PREFIX);

	if (nqn == NULL) {
		return false;
	}
	len = strnlen(nqn, OSP_NVMF_NQN_MAX_LEN + 1);
	if (len > OSP_NVMF_NQN_MAX_LEN || len < OSP_NVMF_NQN_MIN_LEN) {
		return false;
	}
	if (!utf8_valid((const unsigned char *)nqn, len)) {
		return false;
	}
	if (strcmp(nqn, OSP_NVMF_DISCOVERY_NQN) == 0) {
		return true;
	}
	if (strncmp(nqn, OSP_NVMF_NQN_UUID_PREFIX, prefix_len) == 0) {
		return uuid_string_valid(nqn + prefix_len);
	}
	return nqn_domain_form_valid(nqn);
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The NVMe Qualified Name check (NVMe Base Specification 2.0, §4.5): the one
 * copy used by the target's RPCs and Connect and by the initiator, so the two
 * can never disagree. It says which rule failed, for a person to act on.
 */
#include <errno.h>
#include <string.h>

#include "osprey/nvmf_spec.h"
#include "osprey/util.h"

static bool
nqn_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool
nqn_is_label_char(char c)
{
	return nqn_is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-';
}

/*
 * Offset of the first byte that is not part of valid UTF-8 (overlong forms,
 * surrogates and code points past U+10FFFF are invalid), or len.
 */
static size_t
nqn_utf8_bad_offset(const unsigned char *s, size_t len)
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
			return i;
		}
		if (i + n >= len) {
			return i;
		}
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80) {
				return i;
			}
			cp = (cp << 6) | (s[i + k] & 0x3f);
		}
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
			return i;
		}
		i += n + 1;
	}
	return len;
}

/* 8-4-4-4-12 hex digits and nothing else. */
static bool
nqn_uuid_valid(const char *s)
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
		} else if (!nqn_is_digit(s[i]) && !((s[i] >= 'a' && s[i] <= 'f') ||
						    (s[i] >= 'A' && s[i] <= 'F'))) {
			return false;
		}
	}
	return true;
}

int
osp_nqn_check(const char *nqn, char *err, size_t errlen)
{
	size_t len, bad, plen = strlen(OSP_NVMF_NQN_UUID_PREFIX);
	const char *p, *label;
	int month;

	if (nqn == NULL || nqn[0] == '\0') {
		osp_seterr(err, errlen, "NQN is empty");
		return -EINVAL;
	}
	len = strnlen(nqn, OSP_NVMF_NQN_MAX_LEN + 1);
	if (len > OSP_NVMF_NQN_MAX_LEN) {
		osp_seterr(err, errlen, "NQN is %zu bytes long, the limit is %d", strlen(nqn),
			   OSP_NVMF_NQN_MAX_LEN);
		return -EINVAL;
	}
	/* Not echoed: the bytes could break the log line or the JSON answer. */
	bad = nqn_utf8_bad_offset((const unsigned char *)nqn, len);
	if (bad < len) {
		osp_seterr(err, errlen, "NQN is not valid UTF-8 (byte 0x%02x at offset %zu)",
			   (unsigned char)nqn[bad], bad);
		return -EINVAL;
	}
	for (bad = 0; bad < len; bad++) {
		unsigned char c = (unsigned char)nqn[bad];

		if (c <= ' ' || c == 0x7f) {
			osp_seterr(err, errlen, "NQN contains a space or control character "
				   "(byte 0x%02x at offset %zu); NQNs may not", c, bad);
			return -EINVAL;
		}
	}
	if (strcmp(nqn, OSP_NVMF_DISCOVERY_NQN) == 0) {
		return 0;
	}
	if (strncmp(nqn, "nqn.", 4) != 0) {
		osp_seterr(err, errlen, "NQN '%s' does not start with 'nqn.'", nqn);
		return -EINVAL;
	}
	if (strncmp(nqn, OSP_NVMF_NQN_UUID_PREFIX, plen) == 0) {
		if (!nqn_uuid_valid(nqn + plen)) {
			osp_seterr(err, errlen, "NQN '%s': expected a UUID (8-4-4-4-12 hex digits) "
				   "after '%s'", nqn, OSP_NVMF_NQN_UUID_PREFIX);
			return -EINVAL;
		}
		return 0;
	}
	p = nqn + 4;
	if (len < 12 || strspn(p, "0123456789") != 4 || p[4] != '-' ||
	    strspn(p + 5, "0123456789") != 2 || p[7] != '.') {
		goto bad_date;
	}
	month = (p[5] - '0') * 10 + (p[6] - '0');
	if (month < 1 || month > 12) {
		goto bad_date;
	}
	p += 8;
	/* Labels: letters, digits and '-', not starting or ending with '-'. */
	for (;;) {
		label = p;
		while (nqn_is_label_char(*p)) {
			p++;
		}
		if (p == label || label[0] == '-' || p[-1] == '-') {
			goto bad_domain;
		}
		if (*p != '.') {
			break;
		}
		p++;
	}
	if (*p != ':' || p[1] == '\0') {
		goto bad_domain;
	}
	return 0;

bad_date:
	osp_seterr(err, errlen, "NQN '%s': expected 'nqn.yyyy-mm.' (a year and month 01-12 when "
		   "the naming authority owned the domain), e.g. nqn.2016-06.io.spdk:cnode1", nqn);
	return -EINVAL;
bad_domain:
	osp_seterr(err, errlen, "NQN '%s': expected a reverse domain name (dot-separated labels "
		   "of letters, digits and '-', not at either end of a label), then ':' and a "
		   "non-empty name, e.g. nqn.2016-06.io.spdk:cnode1", nqn);
	return -EINVAL;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * MD5 (RFC 1321). Only for iSCSI CHAP (RFC 1994), where the protocol
 * fixes the hash; never use it where collision resistance matters.
 */
#include <string.h>

#include "osprey/util.h"

/* Per-round left rotations (RFC 1321 3.4). */
static const uint8_t g_md5_shift[64] = {
	7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22,
	5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9, 14, 20,
	4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23,
	6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
};

/* T[i] = floor(2^32 * |sin(i + 1)|) (RFC 1321 3.4). */
static const uint32_t g_md5_t[64] = {
	0xd76aa478, 0xe8c7b756, 0x242070db, 0xc1bdceee, 0xf57c0faf, 0x4787c62a, 0xa8304613, 0xfd469501,
	0x698098d8, 0x8b44f7af, 0xffff5bb1, 0x895cd7be, 0x6b901122, 0xfd987193, 0xa679438e, 0x49b40821,
	0xf61e2562, 0xc040b340, 0x265e5a51, 0xe9b6c7aa, 0xd62f105d, 0x02441453, 0xd8a1e681, 0xe7d3fbc8,
	0x21e1cde6, 0xc33707d6, 0xf4d50d87, 0x455a14ed, 0xa9e3e905, 0xfcefa3f8, 0x676f02d9, 0x8d2a4c8a,
	0xfffa3942, 0x8771f681, 0x6d9d6122, 0xfde5380c, 0xa4beea44, 0x4bdecfa9, 0xf6bb4b60, 0xbebfbc70,
	0x289b7ec6, 0xeaa127fa, 0xd4ef3085, 0x04881d05, 0xd9d4d039, 0xe6db99e5, 0x1fa27cf8, 0xc4ac5665,
	0xf4292244, 0x432aff97, 0xab9423a7, 0xfc93a039, 0x655b59c3, 0x8f0ccc92, 0xffeff47d, 0x85845dd1,
	0x6fa87e4f, 0xfe2ce6e0, 0xa3014314, 0x4e0811a1, 0xf7537e82, 0xbd3af235, 0x2ad7d2bb, 0xeb86d391,
};

static inline uint32_t
md5_rotl(uint32_t x, unsigned int n)
{
	return (x << n) | (x >> (32 - n));
}

static void
md5_block(uint32_t state[4], const uint8_t *p)
{
	uint32_t x[16];
	uint32_t a = state[0], b = state[1], c = state[2], d = state[3];
	unsigned int i;

	/* The message words are little-endian whatever the host is. */
	for (i = 0; i < 16; i++) {
		x[i] = (uint32_t)p[i * 4] | (uint32_t)p[i * 4 + 1] << 8 |
		       (uint32_t)p[i * 4 + 2] << 16 | (uint32_t)p[i * 4 + 3] << 24;
	}
	for (i = 0; i < 64; i++) {
		uint32_t f, tmp;
		unsigned int g;

		switch (i / 16) {
		case 0:
			f = (b & c) | (~b & d);
			g = i;
			break;
		case 1:
			f = (b & d) | (c & ~d);
			g = (5 * i + 1) % 16;
			break;
		case 2:
			f = b ^ c ^ d;
			g = (3 * i + 5) % 16;
			break;
		default:
			f = c ^ (b | ~d);
			g = (7 * i) % 16;
			break;
		}
		tmp = d;
		d = c;
		c = b;
		b = b + md5_rotl(a + f + g_md5_t[i] + x[g], g_md5_shift[i]);
		a = tmp;
	}
	state[0] += a;
	state[1] += b;
	state[2] += c;
	state[3] += d;
}

void
osp_md5_init(struct osp_md5_ctx *ctx)
{
	ctx->state[0] = 0x67452301;
	ctx->state[1] = 0xefcdab89;
	ctx->state[2] = 0x98badcfe;
	ctx->state[3] = 0x10325476;
	ctx->len = 0;
}

void
osp_md5_update(struct osp_md5_ctx *ctx, const void *data, size_t len)
{
	const uint8_t *p = data;
	size_t used = (size_t)(ctx->len % 64);

	ctx->len += len;
	if (used != 0) {
		size_t n = OSP_MIN(len, 64 - used);

		memcpy(ctx->block + used, p, n);
		p += n;
		len -= n;
		if (used + n < 64) {
			return;
		}
		md5_block(ctx->state, ctx->block);
	}
	while (len >= 64) {
		md5_block(ctx->state, p);
		p += 64;
		len -= 64;
	}
	if (len != 0) {
		memcpy(ctx->block, p, len);
	}
}

void
osp_md5_final(struct osp_md5_ctx *ctx, uint8_t digest[OSP_MD5_DIGEST_LEN])
{
	static const uint8_t pad[64] = { 0x80 };
	uint64_t bits = ctx->len * 8;
	uint8_t lenle[8];
	size_t used = (size_t)(ctx->len % 64);
	unsigned int i;

	for (i = 0; i < 8; i++) {
		lenle[i] = (uint8_t)(bits >> (8 * i));
	}
	/* Pad to 56 mod 64, then the bit length, little-endian (RFC 1321 3.1, 3.2). */
	osp_md5_update(ctx, pad, used < 56 ? 56 - used : 120 - used);
	osp_md5_update(ctx, lenle, 8);
	for (i = 0; i < 4; i++) {
		digest[i * 4] = (uint8_t)ctx->state[i];
		digest[i * 4 + 1] = (uint8_t)(ctx->state[i] >> 8);
		digest[i * 4 + 2] = (uint8_t)(ctx->state[i] >> 16);
		digest[i * 4 + 3] = (uint8_t)(ctx->state[i] >> 24);
	}
	/* The context held secret material (CHAP secrets): leave nothing behind. */
	explicit_bzero(ctx, sizeof(*ctx));
}

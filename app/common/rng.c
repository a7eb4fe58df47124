/* SPDX-License-Identifier: BSD-3-Clause */
/* The tools' random numbers: seeding (drawing is inline in osp_tool.h). */
#include "osp_tool.h"

uint64_t
osp_tool_mix64(uint64_t x)
{
	x += 0x9E3779B97F4A7C15ULL;
	x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
	x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
	return x ^ (x >> 31);
}

void
osp_tool_rng_seed(struct osp_tool_rng *r, uint64_t seed, uint64_t stream)
{
	/* Mixing twice keeps (seed, stream) and (seed + 1, stream - 1) apart. */
	r->s = osp_tool_mix64(osp_tool_mix64(seed) ^ stream);
	if (r->s == 0) {
		/* xorshift's one fixed point: it would only ever give 0. */
		r->s = 0x9E3779B97F4A7C15ULL;
	}
}

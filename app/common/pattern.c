/* SPDX-License-Identifier: BSD-3-Clause */
/* The tools' verify pattern: LBA + seed + generation in every block. */
#include <inttypes.h>
#include <string.h>

#include "osp_tool.h"

/* What words 3.. of a block are made from: every input changes all of them. */
static inline uint64_t
pattern_key(uint64_t lba, uint64_t seed, uint64_t gen)
{
	return lba * 0x9E3779B97F4A7C15ULL ^ seed ^ gen * 0xC2B2AE3D27D4EB4FULL;
}

void
osp_tool_pattern_fill(void *buf, uint64_t lba, uint32_t nblocks, uint32_t block_size,
		      uint64_t seed, uint64_t gen)
{
	uint32_t b, i, words = block_size / 8;

	for (b = 0; b < nblocks; b++) {
		uint64_t *w = (uint64_t *)((uint8_t *)buf + (size_t)b * block_size);
		uint64_t key = pattern_key(lba + b, seed, gen);

		w[0] = lba + b;
		w[1] = seed;
		w[2] = gen;
		for (i = 3; i < words; i++) {
			w[i] = key + i;
		}
	}
}

bool
osp_tool_pattern_check(const void *buf, uint64_t lba, uint32_t nblocks, uint32_t block_size,
		       uint64_t seed, uint64_t gen, struct osp_tool_pattern_err *err)
{
	uint32_t b, i, words = block_size / 8;

	for (b = 0; b < nblocks; b++) {
		const uint64_t *w = (const uint64_t *)((const uint8_t *)buf + (size_t)b * block_size);
		uint64_t key = pattern_key(lba + b, seed, gen), exp[3] = {lba + b, seed, gen};
		const uint8_t *got, *want;
		uint64_t expected;
		uint32_t bad;

		if (w[0] == exp[0] && w[1] == exp[1] && w[2] == exp[2]) {
			for (i = 3; i < words && w[i] == key + i; i++) {
			}
			if (i == words) {
				continue;
			}
		} else {
			i = w[0] != exp[0] ? 0 : w[1] != exp[1] ? 1 : 2;
		}
		if (err == NULL) {
			return false;
		}
		/* First differing byte of word i (little- or big-endian alike). */
		expected = i < 3 ? exp[i] : key + i;
		got = (const uint8_t *)&w[i];
		want = (const uint8_t *)&expected;
		for (bad = 0; bad < 7 && got[bad] == want[bad]; bad++) {
		}
		memset(err, 0, sizeof(*err));
		err->block = b;
		err->lba = lba + b;
		err->byte = i * 8 + bad;
		err->exp_byte = want[bad];
		err->got_byte = got[bad];
		err->exp_lba = exp[0];
		err->exp_seed = exp[1];
		err->exp_gen = exp[2];
		err->got_lba = w[0];
		err->got_seed = w[1];
		err->got_gen = w[2];
		return false;
	}
	return true;
}

int
osp_tool_pattern_err_fmt(char *buf, size_t len, const struct osp_tool_pattern_err *err)
{
	return snprintf(buf, len, "expected lba %" PRIu64 " seed 0x%" PRIx64 " gen %" PRIu64
			", got lba %" PRIu64 " seed 0x%" PRIx64 " gen %" PRIu64 "; first bad byte %u"
			" of the block: expected 0x%02x got 0x%02x", err->exp_lba, err->exp_seed,
			err->exp_gen, err->got_lba, err->got_seed, err->got_gen, err->byte,
			err->exp_byte, err->got_byte);
}

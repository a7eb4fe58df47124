/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What Osprey's tools (bdevperf, nvme_perf, nvme_identify, the bench
 * programs) share: a per-thread random number generator, the verify data
 * pattern, a latency histogram and the initiator's connection options.
 *
 * Built from app/common/ into build/lib/libosp_tool.a and linked only into
 * the tools (never into the daemons or the installed libraries): these are
 * the tools' conventions, not a library API. Symbols carry osp_tool_ /
 * OSP_TOOL_.
 */
#ifndef OSP_TOOL_H
#define OSP_TOOL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "osprey/nvme.h"

/* ------------------------------------------------------------ RNG */

/*
 * xorshift64* (period 2^64 - 1, a few cycles a number), one per thread or
 * per job: it has no shared state and no lock, so whoever owns the struct
 * draws from it. Seed it with osp_tool_rng_seed(); the state is never 0.
 */
struct osp_tool_rng {
	uint64_t s;
};

/*
 * Seed r from (seed, stream): the same pair always gives the same sequence,
 * different streams (one per worker or job) give unrelated sequences even
 * for seed 0 (the pair is mixed with splitmix64 first). Any thread.
 */
void osp_tool_rng_seed(struct osp_tool_rng *r, uint64_t seed, uint64_t stream);

/* The next 64 random bits. */
static inline uint64_t
osp_tool_rng_next(struct osp_tool_rng *r)
{
	uint64_t x = r->s;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	r->s = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* Uniform in [0, n) (0 when n is 0), by a multiply and a shift: no division. */
static inline uint64_t
osp_tool_rng_below(struct osp_tool_rng *r, uint64_t n)
{
	return (uint64_t)(((unsigned __int128)osp_tool_rng_next(r) * n) >> 64);
}

/* splitmix64: a bijective mix of x (a good seed from a poor one). */
uint64_t osp_tool_mix64(uint64_t x);

/* ------------------------------------------------------------ verify pattern */

/* The smallest block the pattern can describe (its three header words). */
#define OSP_TOOL_PATTERN_MIN_BLOCK 24

/*
 * Every 8-byte word of a block written for verification says where and
 * when it was written: word 0 is the block's LBA, word 1 the run's seed,
 * word 2 the writer's generation, the others a mix of the three plus the
 * word's index. A block read back from another LBA (misplaced), from an
 * earlier write (stale generation), from another run (seed) or altered in
 * any byte does not match. A tool that needs the data to depend only on
 * the seed and the LBA (nvme_perf: reads check data that any earlier write
 * of the run, or an earlier run, left) uses generation 0 throughout.
 *
 * block_size must be a multiple of 8 and at least OSP_TOOL_PATTERN_MIN_BLOCK.
 */
void osp_tool_pattern_fill(void *buf, uint64_t lba, uint32_t nblocks, uint32_t block_size,
			   uint64_t seed, uint64_t gen);

/* Where the first mismatch of a check is, and what the block says it is. */
struct osp_tool_pattern_err {
	uint32_t block;		/* index of the bad block in the buffer */
	uint64_t lba;		/* its LBA (the lba argument + block) */
	uint32_t byte;		/* first differing byte within the block */
	uint8_t exp_byte;
	uint8_t got_byte;
	/* Header words expected and found: a misplaced or stale block names its origin. */
	uint64_t exp_lba, exp_seed, exp_gen;
	uint64_t got_lba, got_seed, got_gen;
};

/*
 * Check that buf holds the pattern of (lba, seed, gen) for nblocks blocks.
 * Returns true when every byte matches; otherwise false, with the first
 * bad block described in *err (err may be NULL).
 */
bool osp_tool_pattern_check(const void *buf, uint64_t lba, uint32_t nblocks,
			    uint32_t block_size, uint64_t seed, uint64_t gen,
			    struct osp_tool_pattern_err *err);

/*
 * The expected/found part of a miscompare report, the same words in every
 * tool: "expected lba L seed 0xS gen G, got lba L seed 0xS gen G; first bad
 * byte B of the block: expected 0xEE got 0xGG". Returns snprintf's value.
 */
int osp_tool_pattern_err_fmt(char *buf, size_t len, const struct osp_tool_pattern_err *err);

/* ------------------------------------------------------------ latency histogram */

/*
 * Log-linear buckets over 64-bit values (ns, ticks: the caller's unit):
 * values below 2^OSP_TOOL_HIST_SUB_BITS exactly, then 2^OSP_TOOL_HIST_SUB_BITS
 * linear steps per power of two, so a bucket is within ~3 % of its values.
 * Recording is one count increment: no lock, one histogram per thread,
 * merged when the run is over.
 */
#define OSP_TOOL_HIST_SUB_BITS 5
#define OSP_TOOL_HIST_BUCKETS (64u << OSP_TOOL_HIST_SUB_BITS)

struct osp_tool_hist {
	uint64_t b[OSP_TOOL_HIST_BUCKETS];
};

/* The bucket of value v. */
static inline uint32_t
osp_tool_hist_index(uint64_t v)
{
	uint32_t msb;

	if (v < (1u << OSP_TOOL_HIST_SUB_BITS)) {
		return (uint32_t)v;
	}
	msb = 63 - (uint32_t)__builtin_clzll(v);
	return ((msb - OSP_TOOL_HIST_SUB_BITS + 1) << OSP_TOOL_HIST_SUB_BITS) |
	       (uint32_t)((v >> (msb - OSP_TOOL_HIST_SUB_BITS)) &
			  ((1u << OSP_TOOL_HIST_SUB_BITS) - 1));
}

/* Count one value. */
static inline void
osp_tool_hist_add(struct osp_tool_hist *h, uint64_t v)
{
	h->b[osp_tool_hist_index(v)]++;
}

/* Lowest and highest value that fall in bucket i. */
uint64_t osp_tool_hist_bucket_start(uint32_t i);
uint64_t osp_tool_hist_bucket_end(uint32_t i);
/* dst += src. */
void osp_tool_hist_merge(struct osp_tool_hist *dst, const struct osp_tool_hist *src);
/* Values counted. */
uint64_t osp_tool_hist_count(const struct osp_tool_hist *h);
/*
 * The pct-th percentile (0 < pct <= 100): the upper end of the bucket that
 * holds the value of rank ceil-ish(count * pct / 100) (at least 1); 0 when
 * the histogram is empty. 100 gives the max (to the bucket's precision).
 */
uint64_t osp_tool_hist_percentile(const struct osp_tool_hist *h, double pct);

/*
 * SPDK perf's "Summary latency data for <label>:" block: the 1, 10, 25, 50,
 * 75, 90, 99, 99.9 and 99.99th percentiles, each value divided by
 * units_per_us (1000 for ns) and printed in microseconds.
 */
void osp_tool_hist_print_summary(FILE *f, const char *label, const struct osp_tool_hist *h,
				 double units_per_us);
/*
 * SPDK perf's "Latency histogram for <label>:" block (-LL): one line per
 * non-empty bucket, its range in microseconds, the cumulative share of the
 * values up to it and its count.
 */
void osp_tool_hist_print_buckets(FILE *f, const char *label, const struct osp_tool_hist *h,
				 double units_per_us);

/* ------------------------------------------------------------ initiator options */

/*
 * The connection options of the initiator tools (nvme_perf, nvme_identify),
 * with the letters of SPDK's perf:
 *   -r, --transport TRID          controller (repeatable up to max_trids)
 *   -H, --enable-tcp-hdgst        NVMe/TCP header digest (alias --hdgst)
 *   -I, --enable-tcp-ddgst        NVMe/TCP data digest (alias --ddgst)
 *   -k, --keepalive MS            keep alive timeout, 0 disables (aliases
 *                                 --keep-alive, --keep-alive-ms)
 *       --hostnqn NQN             host NQN of the Connect
 *       --io-queue-size N         entries of each I/O queue (2..65536)
 *       --disable-sq-fc           ask I/O queues to disable SQ flow control
 * A tool puts OSP_TOOL_INITIATOR_SHORTOPTS into its getopt string and
 * OSP_TOOL_INITIATOR_LONGOPTS into its option table, then hands every
 * option to osp_tool_initiator_parse() first.
 */
#define OSP_TOOL_INITIATOR_MAX_TRIDS 16
#define OSP_TOOL_KATO_MAX_MS 3600000u

struct osp_tool_initiator_opts {
	/* How many -r the tool takes (1..OSP_TOOL_INITIATOR_MAX_TRIDS). */
	uint32_t max_trids;
	uint32_t num_trids;
	struct osp_nvme_transport_id trids[OSP_TOOL_INITIATOR_MAX_TRIDS];
	/* The host keys of each -r (hostnqn, hostaddr, hostsvcid, ns, alt_traddr). */
	struct osp_nvme_trid_ext exts[OSP_TOOL_INITIATOR_MAX_TRIDS];
	/* The -r strings as given (for messages). */
	const char *trid_strs[OSP_TOOL_INITIATOR_MAX_TRIDS];
	bool header_digest;
	bool data_digest;
	bool kato_set;
	uint32_t kato_ms;
	/* Empty: the library's default host NQN. */
	char hostnqn[OSP_NVME_NQN_MAX_LEN + 1];
	/* 0: the tool's default. */
	uint32_t io_queue_size;
	bool disable_sq_fc;
	/* Why the last osp_tool_initiator_parse() refused its argument. */
	char errmsg[512];
};

enum {
	OSP_TOOL_OPT_HOSTNQN = 0x4000,
	OSP_TOOL_OPT_IO_QUEUE_SIZE,
	OSP_TOOL_OPT_DISABLE_SQ_FC,
};

#define OSP_TOOL_INITIATOR_SHORTOPTS "r:HIk:"
#define OSP_TOOL_INITIATOR_LONGOPTS \
	{"transport", required_argument, NULL, 'r'}, \
	{"enable-tcp-hdgst", no_argument, NULL, 'H'}, \
	{"hdgst", no_argument, NULL, 'H'}, \
	{"enable-tcp-ddgst", no_argument, NULL, 'I'}, \
	{"ddgst", no_argument, NULL, 'I'}, \
	{"keepalive", required_argument, NULL, 'k'}, \
	{"keep-alive", required_argument, NULL, 'k'}, \
	{"keep-alive-ms", required_argument, NULL, 'k'}, \
	{"hostnqn", required_argument, NULL, OSP_TOOL_OPT_HOSTNQN}, \
	{"io-queue-size", required_argument, NULL, OSP_TOOL_OPT_IO_QUEUE_SIZE}, \
	{"disable-sq-fc", no_argument, NULL, OSP_TOOL_OPT_DISABLE_SQ_FC}

/* Empty options for a tool that takes up to max_trids controllers. */
void osp_tool_initiator_opts_init(struct osp_tool_initiator_opts *o, uint32_t max_trids);

/*
 * Handle getopt's (ch, arg) if it is one of the options above. Returns 0
 * when taken, 1 when ch is not one of them (the tool handles it), -EINVAL
 * when the value is bad: o->errmsg says why, naming the option and what it
 * accepts (the tool prints it and exits).
 */
int osp_tool_initiator_parse(struct osp_tool_initiator_opts *o, int ch, const char *arg);

/*
 * Copy the options into controller options initialized with
 * osp_nvme_ctrlr_opts_init() (what was not given keeps its default).
 */
void osp_tool_initiator_apply(const struct osp_tool_initiator_opts *o,
			      struct osp_nvme_ctrlr_opts *copts);

/*
 * Connect to the i-th -r controller: copts (from osp_tool_initiator_apply())
 * plus that -r's hostnqn (over --hostnqn), hostaddr and hostsvcid; when the
 * connection to traddr fails and the -r has alt_traddr, the same again with
 * traddr replaced by alt_traddr (a note on stderr says so). On success
 * *used is the transport id connected with; on failure *err describes the
 * last attempt. Returns the controller or NULL.
 */
struct osp_nvme_ctrlr *osp_tool_initiator_connect(const struct osp_tool_initiator_opts *o,
						  uint32_t i, const struct osp_nvme_ctrlr_opts *copts,
						  struct osp_nvme_transport_id *used,
						  struct osp_nvme_connect_error *err);

/* The usage lines of the options above, for the tool's help text. */
void osp_tool_initiator_usage(FILE *f);

/*
 * Start the env (DPDK: DMA memory and the PCI bus, with the -r PCIe
 * addresses as the allow list) when any -r names a PCIe controller; TCP
 * alone needs no env. Returns 1 when started, 0 when not needed, or -errno
 * (o->errmsg says why). name is the process name given to the env.
 */
int osp_tool_initiator_env_init(struct osp_tool_initiator_opts *o, const char *name);

/* Data buffers for I/O: DMA memory once the env runs (PCIe), else aligned heap. */
void *osp_tool_io_buf_alloc(size_t len);
void osp_tool_io_buf_free(void *buf);

#endif /* OSP_TOOL_H */

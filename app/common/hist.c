/* SPDX-License-Identifier: BSD-3-Clause */
/* The tools' latency histogram: percentiles and SPDK perf's printouts. */
#include <inttypes.h>

#include "osp_tool.h"

#define SUB (1u << OSP_TOOL_HIST_SUB_BITS)
/* Buckets past this one would hold values of 2^64 and more: never used. */
#define LAST_BUCKET ((64u - OSP_TOOL_HIST_SUB_BITS) * SUB + SUB - 1)

uint64_t
osp_tool_hist_bucket_start(uint32_t i)
{
	uint32_t shift = i >> OSP_TOOL_HIST_SUB_BITS, sub = i & (SUB - 1);

	if (i > LAST_BUCKET) {
		return UINT64_MAX;
	}
	if (shift == 0) {
		return sub;
	}
	return (uint64_t)(SUB | sub) << (shift - 1);
}

uint64_t
osp_tool_hist_bucket_end(uint32_t i)
{
	uint32_t shift = i >> OSP_TOOL_HIST_SUB_BITS;

	if (i >= LAST_BUCKET) {
		return UINT64_MAX;
	}
	if (shift == 0) {
		return i;
	}
	return osp_tool_hist_bucket_start(i) + (1ull << (shift - 1)) - 1;
}

void
osp_tool_hist_merge(struct osp_tool_hist *dst, const struct osp_tool_hist *src)
{
	uint32_t i;

	for (i = 0; i < OSP_TOOL_HIST_BUCKETS; i++) {
		dst->b[i] += src->b[i];
	}
}

uint64_t
osp_tool_hist_count(const struct osp_tool_hist *h)
{
	uint64_t n = 0;
	uint32_t i;

	for (i = 0; i < OSP_TOOL_HIST_BUCKETS; i++) {
		n += h->b[i];
	}
	return n;
}

uint64_t
osp_tool_hist_percentile(const struct osp_tool_hist *h, double pct)
{
	uint64_t total = osp_tool_hist_count(h), want, seen = 0;
	uint32_t i;

	if (total == 0) {
		return 0;
	}
	want = (uint64_t)((double)total * pct / 100.0);
	if (want == 0) {
		want = 1;
	}
	if (want > total) {
		want = total;
	}
	for (i = 0; i < OSP_TOOL_HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen >= want) {
			return osp_tool_hist_bucket_end(i);
		}
	}
	return UINT64_MAX;
}

void
osp_tool_hist_print_summary(FILE *f, const char *label, const struct osp_tool_hist *h,
			    double units_per_us)
{
	static const double pcts[] = {1, 10, 25, 50, 75, 90, 99, 99.9, 99.99};
	uint32_t i;

	fprintf(f, "Summary latency data for %s:\n", label);
	fprintf(f, "=================================================================================\n");
	for (i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		fprintf(f, "%9.5f%% : %12.3fus\n", pcts[i],
			(double)osp_tool_hist_percentile(h, pcts[i]) / units_per_us);
	}
	fprintf(f, "\n");
}

void
osp_tool_hist_print_buckets(FILE *f, const char *label, const struct osp_tool_hist *h,
			    double units_per_us)
{
	uint64_t total = osp_tool_hist_count(h), seen = 0;
	uint32_t i;

	fprintf(f, "Latency histogram for %s:\n", label);
	fprintf(f, "==============================================================================\n");
	fprintf(f, "       Range in us     Cumulative    IO count\n");
	for (i = 0; i < OSP_TOOL_HIST_BUCKETS; i++) {
		if (h->b[i] == 0) {
			continue;
		}
		seen += h->b[i];
		/* A bucket holds start..end: shown as the range [start, end + 1) in us. */
		fprintf(f, "%9.3f - %9.3f: %9.4f%%  (%9" PRIu64 ")\n",
			(double)osp_tool_hist_bucket_start(i) / units_per_us,
			((double)osp_tool_hist_bucket_end(i) + 1) / units_per_us,
			100.0 * (double)seen / (double)total, h->b[i]);
	}
	fprintf(f, "\n");
}

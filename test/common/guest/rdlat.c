/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rdlat: times individual O_DIRECT reads in a guest test and checks their data.
 *   rdlat DEV OFFSET LEN BS COUNT EXPECT_FILE MAX_MS
 * Reads COUNT blocks of BS bytes one at a time (queue depth 1), cycling over
 * [OFFSET, OFFSET + LEN) of DEV, compares each with the same bytes of
 * EXPECT_FILE (which holds LEN bytes), and prints one line:
 *   rdlat: N reads of BS B: min A ms avg B ms p50 C ms p99 D ms max E ms (read #I), slow K (> MAX_MS ms)
 * plus one "rdlat: slow read #i at OFF: T ms" line per slow read.
 * Exit 0 if all match and none is slower than MAX_MS, 1 on a mismatch or error,
 * 2 if a read was too slow. Built static by the host test (the guest has no libc).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	long long off, len, bs, count, i, nblk, pos, slow = 0, worst = 0;
	double max_ms, t, sum = 0, *lat;
	char *buf, *exp;
	int fd, efd;

	if (argc != 8) {
		fprintf(stderr, "usage: rdlat DEV OFFSET LEN BS COUNT EXPECT_FILE MAX_MS\n");
		return 1;
	}
	off = atoll(argv[2]);
	len = atoll(argv[3]);
	bs = atoll(argv[4]);
	count = atoll(argv[5]);
	max_ms = atof(argv[7]);
	if (bs <= 0 || len < bs || count <= 0 || off < 0) {
		fprintf(stderr, "rdlat: bad sizes\n");
		return 1;
	}
	nblk = len / bs;
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	efd = open(argv[6], O_RDONLY);
	if (fd < 0 || efd < 0) {
		perror("rdlat: open");
		return 1;
	}
	exp = malloc((size_t)len);
	lat = calloc((size_t)count, sizeof(*lat));
	if (exp == NULL || lat == NULL || posix_memalign((void **)&buf, 4096, (size_t)bs) != 0) {
		fprintf(stderr, "rdlat: out of memory\n");
		return 1;
	}
	if (pread(efd, exp, (size_t)len, 0) != len) {
		fprintf(stderr, "rdlat: %s is shorter than %lld bytes\n", argv[6], len);
		return 1;
	}
	for (i = 0; i < count; i++) {
		pos = (i % nblk) * bs;
		t = now_ms();
		if (pread(fd, buf, (size_t)bs, off + pos) != bs) {
			perror("rdlat: pread");
			return 1;
		}
		lat[i] = now_ms() - t;
		sum += lat[i];
		if (lat[i] > lat[worst]) {
			worst = i;
		}
		if (lat[i] > max_ms) {
			slow++;
			printf("rdlat: slow read #%lld at %lld: %.1f ms\n", i, off + pos, lat[i]);
		}
		if (memcmp(buf, exp + pos, (size_t)bs) != 0) {
			printf("rdlat: read #%lld at %lld: data differs from the pattern\n", i, off + pos);
			return 1;
		}
	}
	printf("rdlat: %lld reads of %lld B: ", count, bs);
	t = lat[worst];
	qsort(lat, (size_t)count, sizeof(*lat), cmp_double);
	printf("min %.1f ms avg %.1f ms p50 %.1f ms p99 %.1f ms max %.1f ms (read #%lld), slow %lld (> %.0f ms)\n",
	       lat[0], sum / count, lat[count / 2], lat[(count * 99) / 100 < count ? (count * 99) / 100 : count - 1],
	       t, worst, slow, max_ms);
	return slow ? 2 : 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A small load generator for the reference guest run (bench/vhost/run_vm_ref.sh):
 * the guest has busybox only, no fio. Reads a block device with O_DIRECT
 * through Linux native AIO (raw io_setup / io_submit / io_getevents system
 * calls: no libaio), keeping QD requests in flight, for SECONDS.
 *
 *   ioload DEV randread|read BS QD SECONDS
 *
 * Prints one line: "ios=N secs=S iops=X mib_s=Y lat_us=Z". Built static on
 * the host (cc -static), so it runs in the busybox guest as it is.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/aio_abi.h>
#include <linux/fs.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define QD_MAX	256

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

int
main(int argc, char **argv)
{
	struct iocb cbs[QD_MAX], *cbp[QD_MAX];
	struct io_event ev[QD_MAX];
	double t_sub[QD_MAX];
	aio_context_t ctx = 0;
	uint64_t size = 0, blocks, seq = 0, seed = 0x9e3779b97f4a7c15ull, ios = 0;
	double t0, t_end, lat_sum = 0;
	unsigned bs, qd, secs;
	bool random;
	int fd;

	if (argc != 6) {
		fprintf(stderr, "usage: %s DEV randread|read BS QD SECONDS\n", argv[0]);
		return 2;
	}
	random = strcmp(argv[2], "randread") == 0;
	bs = (unsigned)strtoul(argv[3], NULL, 0);
	qd = (unsigned)strtoul(argv[4], NULL, 0);
	secs = (unsigned)strtoul(argv[5], NULL, 0);
	if ((!random && strcmp(argv[2], "read") != 0) || bs == 0 || bs % 512 || qd == 0 ||
	    qd > QD_MAX || secs == 0) {
		fprintf(stderr, "bad arguments\n");
		return 2;
	}
	fd = open(argv[1], O_RDONLY | O_DIRECT);
	if (fd >= 0 && ioctl(fd, BLKGETSIZE64, &size) != 0) {
		struct stat st;	/* a regular file */

		size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
	}
	if (fd < 0 || size < bs) {
		perror(argv[1]);
		return 1;
	}
	blocks = size / bs;
	if (syscall(SYS_io_setup, qd, &ctx) != 0) {
		perror("io_setup");
		return 1;
	}
	for (unsigned i = 0; i < qd; i++) {
		void *buf;

		if (posix_memalign(&buf, 4096, bs) != 0) {
			return 1;
		}
		memset(&cbs[i], 0, sizeof(cbs[i]));
		cbs[i].aio_fildes = (uint32_t)fd;
		cbs[i].aio_lio_opcode = IOCB_CMD_PREAD;
		cbs[i].aio_buf = (uint64_t)(uintptr_t)buf;
		cbs[i].aio_nbytes = bs;
		cbs[i].aio_data = i;
		cbp[i] = &cbs[i];
	}
	t0 = now_s();
	t_end = t0 + secs;
	for (unsigned i = 0; i < qd; i++) {
		cbs[i].aio_offset = (int64_t)((random ? rnd(&seed) : seq++) % blocks) * bs;
		t_sub[i] = t0;
	}
	if (syscall(SYS_io_submit, ctx, (long)qd, cbp) != (long)qd) {
		perror("io_submit");
		return 1;
	}
	unsigned inflight = qd;
	while (inflight > 0) {
		long n = syscall(SYS_io_getevents, ctx, 1L, (long)QD_MAX, ev, NULL);
		double t = now_s();
		unsigned nre = 0;
		struct iocb *re[QD_MAX];

		if (n < 0) {
			if (errno == EINTR) {
				continue;
			}
			perror("io_getevents");
			return 1;
		}
		for (long k = 0; k < n; k++) {
			unsigned i = (unsigned)ev[k].data;

			if (ev[k].res != (int64_t)bs) {
				fprintf(stderr, "read failed: %lld\n", (long long)ev[k].res);
				return 1;
			}
			ios++;
			lat_sum += t - t_sub[i];
			inflight--;
			if (t < t_end) {
				cbs[i].aio_offset = (int64_t)((random ? rnd(&seed) : seq++) % blocks) * bs;
				t_sub[i] = t;
				re[nre++] = &cbs[i];
			}
		}
		if (nre > 0) {
			if (syscall(SYS_io_submit, ctx, (long)nre, re) != (long)nre) {
				perror("io_submit");
				return 1;
			}
			inflight += nre;
		}
	}
	double el = now_s() - t0;
	printf("ios=%llu secs=%.2f iops=%.0f mib_s=%.1f lat_us=%.0f\n", (unsigned long long)ios, el,
	       (double)ios / el, (double)ios * bs / el / 1048576.0, ios ? lat_sum / (double)ios * 1e6 : 0);
	return 0;
}

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * uring_perf: random 4 KiB-style I/O at a fixed queue depth on a block device
 * through io_uring and O_DIRECT: the guest kernel's nvme driver, for the side
 * by side run of bench/nvme_pcie/run_guest.sh against Osprey's nvme_perf on
 * the same emulated controller (the kernel's path: io_uring, block layer,
 * nvme driver, interrupts).
 *
 *   uring_perf -f DEV -q DEPTH -o BYTES -w randread|randwrite -t SECONDS [-p]
 *
 * -p: IORING_SETUP_IOPOLL, completions polled from the nvme driver's poll
 * queues (the nvme module loaded with poll_queues=N) instead of interrupts:
 * the kernel's own polled path.
 *
 * Prints "uring_perf: running" when the first I/Os are queued, then one line
 *   Total: IOPS <n> MiB/s <m> ios <k> seconds <s> cpu_user_ms <u> cpu_sys_ms <y>
 * (the process's own CPU; the interrupt side is in the guest's /proc/stat).
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <linux/fs.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

static uint64_t g_rng = 88172645463325252ull;

static uint64_t
rng_next(void)
{
	g_rng ^= g_rng << 13;
	g_rng ^= g_rng >> 7;
	g_rng ^= g_rng << 17;
	return g_rng;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
queue_one(struct io_uring *ring, int fd, void *buf, unsigned int bs, uint64_t blocks, int write,
	  uintptr_t slot)
{
	struct io_uring_sqe *sqe = io_uring_get_sqe(ring);
	uint64_t off = (rng_next() % blocks) * bs;

	if (sqe == NULL) {
		return -EBUSY;
	}
	if (write) {
		io_uring_prep_write(sqe, fd, buf, bs, off);
	} else {
		io_uring_prep_read(sqe, fd, buf, bs, off);
	}
	io_uring_sqe_set_data(sqe, (void *)slot);
	return 0;
}

int
main(int argc, char **argv)
{
	const char *dev = NULL, *work = "randread";
	unsigned int depth = 32, bs = 4096, secs = 5, i;
	struct io_uring ring;
	struct rusage ru;
	uint64_t size = 0, blocks, ios = 0, errors = 0;
	double t0, t1, end;
	void **bufs;
	int opt, fd, rc, write, iopoll = 0;

	while ((opt = getopt(argc, argv, "f:q:o:w:t:p")) != -1) {
		switch (opt) {
		case 'f': dev = optarg; break;
		case 'q': depth = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'o': bs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'w': work = optarg; break;
		case 't': secs = (unsigned int)strtoul(optarg, NULL, 0); break;
		case 'p': iopoll = 1; break;
		default: goto usage;
		}
	}
	if (dev == NULL || depth == 0 || depth > 1024 || bs == 0 || bs % 512 != 0 || secs == 0 ||
	    (strcmp(work, "randread") != 0 && strcmp(work, "randwrite") != 0)) {
		goto usage;
	}
	write = strcmp(work, "randwrite") == 0;
	fd = open(dev, (write ? O_RDWR : O_RDONLY) | O_DIRECT);
	if (fd < 0 || ioctl(fd, BLKGETSIZE64, &size) != 0 || size < bs) {
		fprintf(stderr, "uring_perf: %s: %s\n", dev, fd < 0 ? strerror(errno) : "no size");
		return 1;
	}
	blocks = size / bs;
	bufs = calloc(depth, sizeof(*bufs));
	for (i = 0; bufs != NULL && i < depth; i++) {
		if (posix_memalign(&bufs[i], 4096, bs) != 0) {
			fprintf(stderr, "uring_perf: out of memory\n");
			return 1;
		}
		memset(bufs[i], (int)i, bs);
	}
	rc = io_uring_queue_init(depth, &ring, iopoll ? IORING_SETUP_IOPOLL : 0);
	if (bufs == NULL || rc != 0) {
		fprintf(stderr, "uring_perf: io_uring_queue_init: %s\n", strerror(-rc));
		return 1;
	}
	for (i = 0; i < depth; i++) {
		queue_one(&ring, fd, bufs[i], bs, blocks, write, i);
	}
	t0 = now_s();
	end = t0 + secs;
	io_uring_submit(&ring);
	printf("uring_perf: running %s q%u %uB on %s%s\n", work, depth, bs, dev,
	       iopoll ? " (IOPOLL)" : "");
	fflush(stdout);
	for (;;) {
		struct io_uring_cqe *cqe;
		unsigned int head, n = 0;
		int stop;

		rc = io_uring_wait_cqe(&ring, &cqe);
		if (rc != 0) {
			fprintf(stderr, "uring_perf: wait: %s\n", strerror(-rc));
			return 1;
		}
		stop = now_s() >= end;
		io_uring_for_each_cqe(&ring, head, cqe) {
			uintptr_t slot = (uintptr_t)io_uring_cqe_get_data(cqe);

			n++;
			if (cqe->res != (int)bs) {
				errors++;
			}
			ios++;
			if (!stop) {
				queue_one(&ring, fd, bufs[slot], bs, blocks, write, slot);
			}
		}
		io_uring_cq_advance(&ring, n);
		if (stop) {
			break;
		}
		io_uring_submit(&ring);
	}
	t1 = now_s();
	/* Drain what is still in flight (not counted). */
	io_uring_queue_exit(&ring);
	getrusage(RUSAGE_SELF, &ru);
	printf("Total: IOPS %.0f MiB/s %.2f ios %llu seconds %.2f cpu_user_ms %ld cpu_sys_ms %ld errors %llu\n",
	       (double)ios / (t1 - t0), (double)ios * bs / (t1 - t0) / 1048576.0,
	       (unsigned long long)ios, t1 - t0, ru.ru_utime.tv_sec * 1000 + ru.ru_utime.tv_usec / 1000,
	       ru.ru_stime.tv_sec * 1000 + ru.ru_stime.tv_usec / 1000, (unsigned long long)errors);
	return errors == 0 ? 0 : 1;
usage:
	fprintf(stderr, "usage: %s -f DEV [-q DEPTH] [-o BYTES] [-w randread|randwrite] [-t SECONDS] [-p]\n",
		argv[0]);
	return 2;
}

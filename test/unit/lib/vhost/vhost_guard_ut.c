/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Unit tests of the SIGBUS guard (lib/vhost/vhost_guard.c): guest memory in a
 * shared memfd, shrunk by "the front end" (the test) while "the device" (the
 * test, or a second thread) reads and writes it. A guarded access past the
 * new end completes on zeroes and flags the owner; the process lives on. A
 * SIGBUS anywhere else keeps its old meaning: it goes to the handler that was
 * installed before, and without one it kills the process (checked in a child).
 */
#include <CUnit/Basic.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vhost/vhost_guard.c"
#include "ut_run.h"

#define MEM_SIZE	(1u << 20)
#define PAGE		4096u

static int g_owner_a, g_owner_b;

/* A shared memfd mapping of MEM_SIZE bytes, every byte 0x5a. */
static uint8_t *
map_memfd(int *fd)
{
	uint8_t *p;

	*fd = memfd_create("guard_ut", MFD_CLOEXEC);
	CU_ASSERT_FATAL(*fd >= 0);
	CU_ASSERT_FATAL(ftruncate(*fd, MEM_SIZE) == 0);
	p = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0);
	CU_ASSERT_FATAL(p != MAP_FAILED);
	memset(p, 0x5a, MEM_SIZE);
	return p;
}

static void
test_shrunk_region_reads_zeroes(void)
{
	int fd;
	uint8_t *p = map_memfd(&fd);
	volatile uint8_t *v = p;
	uint32_t hits0 = vhost_guard_hits();
	uintptr_t addr = 0;

	CU_ASSERT(vhost_guard_add(&g_owner_a, 7, p, MEM_SIZE, PAGE) == 0);
	CU_ASSERT(!vhost_guard_was_hit(&g_owner_a, 7, NULL));
	/* The front end shrinks its file to 64 KiB under us. */
	CU_ASSERT(ftruncate(fd, 0x10000) == 0);
	CU_ASSERT(v[0x1000] == 0x5a);			/* still in the file */
	CU_ASSERT(v[0x80010] == 0);			/* past its end: SIGBUS, redirected */
	CU_ASSERT(vhost_guard_hits() == hits0 + 1);
	CU_ASSERT(vhost_guard_was_hit(&g_owner_a, 7, &addr));
	CU_ASSERT(addr == (uintptr_t)p + 0x80010);
	CU_ASSERT(!vhost_guard_was_hit(&g_owner_a, 8, NULL));
	CU_ASSERT(!vhost_guard_was_hit(&g_owner_b, 7, NULL));
	/* The rest of the region from that page on is zero pages now: writable, private. */
	v[MEM_SIZE - 1] = 3;
	CU_ASSERT(v[MEM_SIZE - 1] == 3);
	CU_ASSERT(vhost_guard_hits() == hits0 + 1);
	/* Below the faulting page and past the file's end: faults again, handled again. */
	CU_ASSERT(v[0x20000] == 0);
	CU_ASSERT(vhost_guard_hits() == hits0 + 2);
	CU_ASSERT(v[0x1000] == 0x5a);
	/* The first fault's address is kept. */
	CU_ASSERT(vhost_guard_was_hit(&g_owner_a, 7, &addr) && addr == (uintptr_t)p + 0x80010);
	vhost_guard_del(&g_owner_a, 7);
	CU_ASSERT(!vhost_guard_was_hit(&g_owner_a, 7, NULL));
	munmap(p, MEM_SIZE);
	close(fd);
}

struct reader {
	volatile uint8_t *p;
	volatile bool stop;
	uint64_t sum;
	uint64_t loops;
};

static void *
reader_main(void *arg)
{
	struct reader *r = arg;

	while (!r->stop) {
		for (uint32_t off = 0; off < MEM_SIZE; off += PAGE) {
			r->sum += r->p[off];
			r->p[off + 1] = 1;
		}
		r->loops++;
	}
	return NULL;
}

/* Another thread streams over the region (the poller under I/O) when it shrinks. */
static void
test_shrunk_under_io(void)
{
	int fd;
	uint8_t *p = map_memfd(&fd);
	struct reader r = { .p = p };
	pthread_t th;
	uint64_t loops;

	CU_ASSERT(vhost_guard_add(&g_owner_b, 1, p, MEM_SIZE, PAGE) == 0);
	CU_ASSERT(pthread_create(&th, NULL, reader_main, &r) == 0);
	while (__atomic_load_n(&r.loops, __ATOMIC_RELAXED) < 3) {
		usleep(100);
	}
	CU_ASSERT(ftruncate(fd, 0) == 0);
	loops = __atomic_load_n(&r.loops, __ATOMIC_RELAXED);
	while (__atomic_load_n(&r.loops, __ATOMIC_RELAXED) < loops + 3) {
		usleep(100);
	}
	r.stop = true;
	pthread_join(th, NULL);
	CU_ASSERT(vhost_guard_was_hit(&g_owner_b, 1, NULL));
	vhost_guard_del(&g_owner_b, -1);
	munmap(p, MEM_SIZE);
	close(fd);
}

static void
test_bad_args(void)
{
	int x = 0;

	CU_ASSERT(vhost_guard_add(&x, 0, NULL, PAGE, PAGE) == -EINVAL);
	CU_ASSERT(vhost_guard_add(&x, 0, &x, 0, PAGE) == -EINVAL);
	CU_ASSERT(vhost_guard_add(&x, 0, &x, PAGE, 3000) == -EINVAL);
	CU_ASSERT(vhost_guard_add(&x, 0, (void *)(UINTPTR_MAX - 10), PAGE, PAGE) == -EINVAL);
}

/*
 * Outside every guarded region a SIGBUS is what it was: run in a child
 * (fork before the guard is touched there) and look at how it ends.
 */
static int
child_status(void (*fn)(void))
{
	int st = 0;
	pid_t pid = fork();

	if (pid == 0) {
		fn();
		_exit(0);
	}
	CU_ASSERT_FATAL(pid > 0);
	CU_ASSERT(waitpid(pid, &st, 0) == pid);
	return st;
}

static void
touch_unguarded(void)
{
	int fd;
	uint8_t *p = map_memfd(&fd);

	/* A guarded region elsewhere: the handler is installed. */
	if (vhost_guard_add(&g_owner_a, 9, p, PAGE, PAGE) != 0 || ftruncate(fd, 0) != 0) {
		_exit(2);
	}
	(void)*(volatile uint8_t *)(p + 0x10000);	/* not guarded: must kill us */
	_exit(3);
}

static void
sent_sigbus(void)
{
	int x = 0;

	if (vhost_guard_add(&g_owner_a, 9, &x, sizeof(x), 1) != 0) {
		_exit(2);
	}
	kill(getpid(), SIGBUS);		/* not a fault: must kill us */
	_exit(3);
}

static volatile sig_atomic_t g_prev_called;

static void
prev_handler(int sig, siginfo_t *info, void *uctx)
{
	(void)sig;
	(void)uctx;
	g_prev_called = 1;
	/* Make the faulting page readable so that the access completes. */
	mmap((void *)((uintptr_t)info->si_addr & ~(uintptr_t)(PAGE - 1)), PAGE,
	     PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
}

static void
chain_to_previous(void)
{
	struct sigaction sa;
	int fd;
	uint8_t *p;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = prev_handler;
	sa.sa_flags = SA_SIGINFO;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
	p = map_memfd(&fd);
	if (vhost_guard_add(&g_owner_a, 9, p, PAGE, PAGE) != 0 || ftruncate(fd, 0) != 0) {
		_exit(2);
	}
	(void)*(volatile uint8_t *)(p + 0x10000);	/* not ours: the previous handler's */
	_exit(g_prev_called ? 0 : 4);
}

/*
 * The child died of the SIGBUS. Under ASan its own SIGBUS handler (the
 * previous one, chained to) reports it and exits with an error instead.
 */
static bool
died_of_sigbus(int st)
{
#if defined(__SANITIZE_ADDRESS__)
	if (WIFEXITED(st)) {
		return WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 2 && WEXITSTATUS(st) != 3;
	}
	return WIFSIGNALED(st) && (WTERMSIG(st) == SIGBUS || WTERMSIG(st) == SIGABRT);
#else
	return WIFSIGNALED(st) && WTERMSIG(st) == SIGBUS;
#endif
}

static void
test_outside_falls_through(void)
{
	int st;

	st = child_status(touch_unguarded);
	CU_ASSERT(died_of_sigbus(st));
	st = child_status(sent_sigbus);
	CU_ASSERT(died_of_sigbus(st));
	st = child_status(chain_to_previous);
	CU_ASSERT(WIFEXITED(st) && WEXITSTATUS(st) == 0);
#if defined(__SANITIZE_ADDRESS__)
	printf("(the AddressSanitizer BUS reports above are the children's, which had to die of it)\n");
#endif
}

int
main(void)
{
	CU_pSuite suite;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		return 1;
	}
	suite = CU_add_suite("vhost_guard", NULL, NULL);
	/* First: its child installs a handler before the guard does. */
	CU_ADD_TEST(suite, test_outside_falls_through);
	CU_ADD_TEST(suite, test_shrunk_region_reads_zeroes);
	CU_ADD_TEST(suite, test_shrunk_under_io);
	CU_ADD_TEST(suite, test_bad_args);
	return ut_run_suites();
}

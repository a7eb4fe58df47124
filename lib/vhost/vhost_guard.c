/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Guest memory that vanishes under a running device (doc/vhost.md, "Guest
 * memory that shrinks: the SIGBUS guard").
 *
 * A front end shares its guest RAM as files (memfd, tmpfs, hugetlbfs) that we
 * map. If it truncates such a file after SET_MEM_TABLE, the next access to a
 * page past the new end raises SIGBUS, whose default action kills the daemon
 * and every other controller with it. The daemon registers the mappings it
 * holds for front ends here; a SIGBUS handler (installed once, SA_SIGINFO)
 * that finds the faulting address inside one of them maps anonymous zero
 * pages MAP_FIXED over the rest of that mapping, flags the owner and returns:
 * the access is retried on zeroes and completes. The owner's threads notice
 * the flag (vhost_guard_hits() moved) and stop the device. A SIGBUS anywhere
 * else goes to the handler that was there before (ASan's, for example) or,
 * with none, gets the default action.
 *
 * The handler only reads the slot table (atomics), calls mmap() and bumps
 * atomics: async-signal-safe. The table is written under a mutex by the
 * control path. A mapping is registered after it is mapped and unregistered
 * before it is unmapped, and only accesses to a registered mapping can be
 * redirected, so the handler never maps over an address that belongs to
 * something else.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "osprey/log.h"

#include "vhost_internal.h"

/* 8 regions + an inflight area per connection: room for ~450 connections. */
#define GUARD_SLOTS	4096

struct guard_slot {
	uintptr_t start;	/* 0: free; stored last (release) when a slot is filled */
	uintptr_t end;
	uintptr_t align;	/* the mapping's page size (hugetlbfs: the huge page) */
	const void *owner;
	int vid;
	int hit;		/* set by the handler */
	uintptr_t hit_addr;	/* where the first redirected fault was */
};

static struct guard_slot g_slots[GUARD_SLOTS];
static uint32_t g_nslots;		/* slots in use or used before: the handler scans these */
static uint32_t g_hits;			/* bumped by the handler on every redirected fault */
static pthread_mutex_t g_guard_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_guard_once = PTHREAD_ONCE_INIT;
static int g_guard_rc;
static struct sigaction g_prev;

/* The previous disposition, or the default one if there was none. */
static void
guard_fall_through(int sig, siginfo_t *info, void *uctx)
{
	if (g_prev.sa_flags & SA_SIGINFO) {
		if (g_prev.sa_sigaction != NULL) {
			g_prev.sa_sigaction(sig, info, uctx);
			return;
		}
	} else if (g_prev.sa_handler == SIG_IGN) {
		return;
	} else if (g_prev.sa_handler != SIG_DFL && g_prev.sa_handler != NULL) {
		g_prev.sa_handler(sig);
		return;
	}
	/*
	 * Default action: reset it and let the signal come again. A fault
	 * retries the access when we return; a signal sent by someone
	 * (si_code <= 0) does not come back by itself, so it is raised (blocked
	 * until the handler returns).
	 */
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
	sigaction(SIGBUS, &dfl, NULL);
	if (info == NULL || info->si_code <= 0) {
		raise(SIGBUS);
	}
}

static void
guard_handler(int sig, siginfo_t *info, void *uctx)
{
	int saved_errno = errno;
	uintptr_t addr;
	uint32_t n;

	if (info == NULL || info->si_code <= 0) {
		/* Sent by a process (kill, tgkill, sigqueue): not a fault of ours. */
		goto fall_through;
	}
	addr = (uintptr_t)info->si_addr;
	n = __atomic_load_n(&g_nslots, __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n; i++) {
		struct guard_slot *s = &g_slots[i];
		uintptr_t start = __atomic_load_n(&s->start, __ATOMIC_ACQUIRE);
		uintptr_t base;

		if (start == 0 || addr < start || addr >= s->end) {
			continue;
		}
		base = addr & ~(s->align - 1);
		if (base < start) {
			base = start;
		}
		if (mmap((void *)base, s->end - base, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) {
			break;	/* cannot repair it: the access would fault forever */
		}
		if (__atomic_load_n(&s->hit, __ATOMIC_RELAXED) == 0) {
			__atomic_store_n(&s->hit_addr, addr, __ATOMIC_RELAXED);	/* the first fault */
		}
		__atomic_store_n(&s->hit, 1, __ATOMIC_RELEASE);
		__atomic_add_fetch(&g_hits, 1, __ATOMIC_RELEASE);
		errno = saved_errno;
		return;
	}
fall_through:
	errno = saved_errno;
	guard_fall_through(sig, info, uctx);
}

static void
guard_install(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_handler;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGBUS, &sa, &g_prev) != 0) {
		g_guard_rc = -errno;
		OSP_ERRLOG("vhost: cannot install the SIGBUS guard: %s\n", strerror(errno));
	}
}

int
vhost_guard_init(void)
{
	pthread_once(&g_guard_once, guard_install);
	return g_guard_rc;
}

int
vhost_guard_add(const void *owner, int vid, void *addr, uint64_t len, uint64_t align)
{
	uintptr_t start = (uintptr_t)addr;
	uint32_t i;
	int rc = vhost_guard_init();

	if (rc != 0) {
		return rc;
	}
	if (start == 0 || len == 0 || align == 0 || (align & (align - 1)) != 0 ||
	    start + len < start) {
		return -EINVAL;
	}
	pthread_mutex_lock(&g_guard_lock);
	for (i = 0; i < GUARD_SLOTS; i++) {
		if (__atomic_load_n(&g_slots[i].start, __ATOMIC_RELAXED) == 0) {
			break;
		}
	}
	if (i == GUARD_SLOTS) {
		pthread_mutex_unlock(&g_guard_lock);
		return -ENOSPC;
	}
	g_slots[i].end = start + len;
	g_slots[i].align = align;
	g_slots[i].owner = owner;
	g_slots[i].vid = vid;
	__atomic_store_n(&g_slots[i].hit, 0, __ATOMIC_RELAXED);
	__atomic_store_n(&g_slots[i].start, start, __ATOMIC_RELEASE);
	if (i >= g_nslots) {
		__atomic_store_n(&g_nslots, i + 1, __ATOMIC_RELEASE);
	}
	pthread_mutex_unlock(&g_guard_lock);
	return 0;
}

void
vhost_guard_del(const void *owner, int vid)
{
	pthread_mutex_lock(&g_guard_lock);
	for (uint32_t i = 0; i < g_nslots; i++) {
		struct guard_slot *s = &g_slots[i];

		if (__atomic_load_n(&s->start, __ATOMIC_RELAXED) != 0 && s->owner == owner &&
		    (vid < 0 || s->vid == vid)) {
			__atomic_store_n(&s->start, 0, __ATOMIC_RELEASE);
		}
	}
	pthread_mutex_unlock(&g_guard_lock);
}

uint32_t
vhost_guard_hits(void)
{
	return __atomic_load_n(&g_hits, __ATOMIC_ACQUIRE);
}

bool
vhost_guard_was_hit(const void *owner, int vid, uintptr_t *addr)
{
	bool hit = false;

	/* Lock-free like the handler: called from pollers (rarely: when the hit count moved). */
	uint32_t n = __atomic_load_n(&g_nslots, __ATOMIC_ACQUIRE);

	for (uint32_t i = 0; i < n && !hit; i++) {
		struct guard_slot *s = &g_slots[i];

		if (__atomic_load_n(&s->start, __ATOMIC_ACQUIRE) != 0 && s->owner == owner &&
		    s->vid == vid && __atomic_load_n(&s->hit, __ATOMIC_ACQUIRE)) {
			hit = true;
			if (addr != NULL) {
				*addr = __atomic_load_n(&s->hit_addr, __ATOMIC_RELAXED);
			}
		}
	}
	return hit;
}

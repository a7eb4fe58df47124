/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Stubs for unit tests. A unit test #includes the one .c file it exercises
 * and links only the libraries below it; the functions of its neighbors (the
 * same library's other files, or a callback table it must be handed) that it
 * calls but does not test are stubbed here in one line each:
 *
 *	OSP_DEFINE_STUB(osp_nvmf_subsystem_get_nqn, const char *,
 *			(const struct osp_nvmf_subsystem *s), "nqn.test");
 *	OSP_DEFINE_STUB_V(osp_nvmf_qpair_disconnect, (struct osp_nvmf_qpair *qpair));
 *
 * Each stub counts its calls in ut_<fn>_calls, and a non-void stub returns
 * ut_<fn>_ret, which starts at the given value and which a test may change
 * (UT_MOCK_SET(fn, v)) to drive an error path, then put back (UT_MOCK_RESET).
 * Stubs take any arguments and ignore them; when a test needs what was
 * passed, it writes the function out instead.
 *
 * In include/osprey_internal (not installed): for Osprey's own unit tests only.
 */
#ifndef OSPREY_INTERNAL_MOCK_H
#define OSPREY_INTERNAL_MOCK_H

/*
 * Define fn(args) returning ret_type: ut_<fn>_ret (initially value; a
 * constant expression) and counting ut_<fn>_calls. args is the parenthesised
 * parameter list, names optional: (int a, void *b) or (void).
 */
#define OSP_DEFINE_STUB(fn, ret_type, args, value) \
	static ret_type ut_ ## fn ## _ret = (value); \
	static ret_type ut_ ## fn ## _default __attribute__((unused)) = (value); \
	static unsigned int ut_ ## fn ## _calls; \
	ret_type fn args; \
	ret_type fn args \
	{ \
		ut_ ## fn ## _calls++; \
		return ut_ ## fn ## _ret; \
	}

/* Define void fn(args) that only counts ut_<fn>_calls. */
#define OSP_DEFINE_STUB_V(fn, args) \
	static unsigned int ut_ ## fn ## _calls; \
	void fn args; \
	void fn args \
	{ \
		ut_ ## fn ## _calls++; \
	}

/* Make the stub fn return v from now on. */
#define UT_MOCK_SET(fn, v)	(ut_ ## fn ## _ret = (v))
/* Make it return the value it was defined with again. */
#define UT_MOCK_RESET(fn)	(ut_ ## fn ## _ret = ut_ ## fn ## _default)
/* How many times fn was called (UT_MOCK_CALLS(fn) = 0 to restart the count). */
#define UT_MOCK_CALLS(fn)	(ut_ ## fn ## _calls)

#endif /* OSPREY_INTERNAL_MOCK_H */

/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * TCP ports for unit tests that listen on loopback: picked free at run time,
 * so that two runs of the unit tests on one machine (several people, or
 * `make -j unittest` next to an e2e suite) never fight over a fixed port.
 */
#ifndef OSP_UT_PORT_H
#define OSP_UT_PORT_H

#include <stdint.h>

/*
 * Fill ports[0..n-1] with n distinct TCP ports free on 127.0.0.1 right now
 * (n sockets bound to port 0 at once, read back, closed). They are free, not
 * reserved: bind them soon. Returns 0 or a negative errno.
 */
int ut_free_ports(uint16_t *ports, int n);

/*
 * A socket listening on 127.0.0.1 on a port the kernel picked; *port gets the
 * port. Returns the fd (close it) or a negative errno.
 */
int ut_listen_any(uint16_t *port);

#endif /* OSP_UT_PORT_H */

/* SPDX-License-Identifier: BSD-3-Clause */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "ut_port.h"

/* A TCP socket bound to 127.0.0.1:0, its port in *port; fd or -errno. */
static int
bind_any(uint16_t *port)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		return -errno;
	}
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&sa, &len) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	*port = ntohs(sa.sin_port);
	return fd;
}

int
ut_free_ports(uint16_t *ports, int n)
{
	int fds[16];
	int i, rc = 0;

	if (n < 1 || n > (int)(sizeof(fds) / sizeof(fds[0]))) {
		return -EINVAL;
	}
	/* All bound at once, so the kernel cannot hand out the same port twice. */
	for (i = 0; i < n; i++) {
		fds[i] = bind_any(&ports[i]);
		if (fds[i] < 0) {
			rc = fds[i];
			break;
		}
	}
	while (i-- > 0) {
		close(fds[i]);
	}
	return rc;
}

int
ut_listen_any(uint16_t *port)
{
	int fd = bind_any(port);
	int err;

	if (fd < 0) {
		return fd;
	}
	if (listen(fd, 8) != 0) {
		err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

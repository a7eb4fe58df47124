/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * rpc_uds: send one JSON-RPC request to a daemon's Unix socket and print the
 * answer, for QEMU guests that have no python (scripts/rpc.py). Used by
 * test/nvme/guest/pcie_test.sh (bdev_nvme_reset_controller under I/O).
 *
 *   rpc_uds SOCKET METHOD [PARAMS-JSON]
 *
 * Exit 0 when the answer has a "result" member, 1 when it is an error or
 * cannot be read within 60 s, 2 on bad usage.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	static char req[8192], ans[65536];
	size_t got = 0;
	int fd, depth = 0, n, len;
	int in_str = 0, esc = 0, started = 0;

	if (argc < 3 || argc > 4 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
		fprintf(stderr, "usage: %s SOCKET METHOD [PARAMS-JSON]\n", argv[0]);
		return 2;
	}
	len = snprintf(req, sizeof(req), "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"%s\"%s%s}",
		       argv[2], argc == 4 ? ",\"params\":" : "", argc == 4 ? argv[3] : "");
	if (len < 0 || (size_t)len >= sizeof(req)) {
		fprintf(stderr, "rpc_uds: request too long\n");
		return 2;
	}
	strcpy(sa.sun_path, argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		fprintf(stderr, "rpc_uds: cannot connect to %s: %s\n", argv[1], strerror(errno));
		return 1;
	}
	if (write(fd, req, (size_t)len) != len) {
		fprintf(stderr, "rpc_uds: write: %s\n", strerror(errno));
		return 1;
	}
	/* Read until the top-level object closes (strings and escapes skipped). */
	while (got < sizeof(ans) - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t r;
		size_t i;

		if (poll(&p, 1, 60000) != 1) {
			fprintf(stderr, "rpc_uds: no answer within 60 s\n");
			return 1;
		}
		r = read(fd, ans + got, sizeof(ans) - 1 - got);
		if (r <= 0) {
			break;
		}
		for (i = got; i < got + (size_t)r; i++) {
			char c = ans[i];

			if (in_str) {
				esc = esc ? 0 : c == '\\';
				in_str = esc || c != '"';
			} else if (c == '"') {
				in_str = 1;
			} else if (c == '{' || c == '[') {
				depth++;
				started = 1;
			} else if (c == '}' || c == ']') {
				depth--;
			}
		}
		got += (size_t)r;
		if (started && depth == 0) {
			break;
		}
	}
	ans[got] = '\0';
	close(fd);
	n = printf("%s\n", ans);
	(void)n;
	return started && depth == 0 && strstr(ans, "\"result\"") != NULL &&
	       strstr(ans, "\"error\"") == NULL ? 0 : 1;
}

"""JSON-RPC 2.0 client for the Osprey daemons' RPC socket.

The server does not delimit its responses (no newline, no length prefix):
a response ends where its JSON value ends, so the client keeps reading and
tries to decode the accumulated text until one complete value is there.
"""

import codecs
import json
import logging
import os
import socket
import time

DEFAULT_SOCKET = '/var/tmp/osprey.sock'
DEFAULT_PORT = 5260
DEFAULT_TIMEOUT = 60.0
RETRY_INTERVAL = 0.2

log = logging.getLogger('osprey.rpc')


class RpcClientError(Exception):
    """Any failure that rpc.py reports and exits 1 for."""


class ConnectError(RpcClientError):
    pass


class RpcTimeout(RpcClientError):
    pass


class ProtocolError(RpcClientError):
    pass


class RpcError(RpcClientError):
    """The server answered with a JSON-RPC error object."""

    def __init__(self, request, error):
        self.request = request
        self.error = error if isinstance(error, dict) else {'message': str(error)}
        self.code = self.error.get('code')
        self.message = self.error.get('message', '')
        super().__init__(self.describe())

    def describe(self):
        return '\n'.join(['request:', json.dumps(self.request, indent=2),
                          'Got JSON-RPC error response',
                          'response:', json.dumps(self.error, indent=2)])


class _DryRun:
    def __repr__(self):
        return 'DRY_RUN'


# What a dry-run call returns: callers print nothing for it.
DRY_RUN = _DryRun()


def parse_address(server, port=None):
    """Decide how to reach `server`.

    Returns ('unix', path) or ('tcp', family, host, port).  A name with a '/'
    or that exists on disk is a Unix socket path; an IPv4/IPv6 literal uses
    `port`; 'host:port' and '[v6addr]:port' carry their own port.  Anything
    else is taken as a (relative) Unix socket path, so that -r can wait for a
    socket that the daemon has not created yet.
    """
    if '/' in server or os.path.exists(server):
        return ('unix', server)
    port = DEFAULT_PORT if port is None else port
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, server.strip('[]'))
            return ('tcp', family, server.strip('[]'), port)
        except OSError:
            pass
    host, sep, tail = server.rpartition(':')
    if sep and host and tail.isdigit():
        host = host.strip('[]')
        family = socket.AF_INET6 if ':' in host else socket.AF_INET
        return ('tcp', family, host, int(tail))
    return ('unix', server)


def describe_address(addr):
    if addr[0] == 'unix':
        return addr[1]
    host = '[%s]' % addr[2] if addr[1] == socket.AF_INET6 else addr[2]
    return '%s:%d' % (host, addr[3])


class ResponseReader:
    """Accumulates received bytes and yields complete JSON values."""

    def __init__(self):
        self._utf8 = codecs.getincrementaldecoder('utf-8')()
        self._text = ''
        self._decoder = json.JSONDecoder()

    def feed(self, data):
        self._text += self._utf8.decode(data)

    def pending(self):
        return self._text

    def next_value(self):
        """Return the next complete JSON value, or None if more data is needed."""
        text = self._text.lstrip()
        self._text = text
        if not text:
            return None
        # An object or array can only be complete if the text ends like one;
        # checking first keeps a multi-megabyte response from being re-parsed
        # from its start after every read.
        if text[0] in '{[' and text.rstrip()[-1] not in '}]':
            return None
        try:
            value, end = self._decoder.raw_decode(text)
        except ValueError:
            # Incomplete so far; a malformed reply shows up as a timeout or
            # an EOF with this text still pending.
            return None
        self._text = text[end:]
        return value


class JsonRpcClient:
    def __init__(self, server=DEFAULT_SOCKET, port=None, timeout=DEFAULT_TIMEOUT,
                 conn_retries=0):
        if not timeout or timeout <= 0:
            raise RpcClientError('invalid timeout %r: it must be a number of seconds > 0'
                                 % timeout)
        self.timeout = float(timeout)
        self.addr = parse_address(server, port)
        self.name = describe_address(self.addr)
        self.dry_run = False
        self._next_id = 1
        self._sock = None
        self._reader = ResponseReader()
        self._retries = max(0, conn_retries)

    def connect(self):
        """Connect now; call() does it on first use, so a command that fails its
        own checks never touches the socket."""
        if self._sock is None:
            self._reader = ResponseReader()
            self._connect(self._retries)

    def _connect(self, retries):
        for attempt in range(retries + 1):
            try:
                self._sock = self._open()
                log.debug('connected to %s', self.name)
                return
            except OSError as e:
                reason = e.strerror or str(e)
                log.debug('connect to %s failed (%s), attempt %d of %d',
                          self.name, reason, attempt + 1, retries + 1)
                if attempt < retries:
                    time.sleep(RETRY_INTERVAL)
        raise ConnectError('cannot connect to %s: %s (is the Osprey daemon running?)'
                           % (self.name, reason))

    def _open(self):
        if self.addr[0] != 'unix':
            return socket.create_connection(self.addr[2:], timeout=self.timeout)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.addr[1])
        except BaseException:
            sock.close()
            raise
        return sock

    def close(self):
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def request(self, method, params=None):
        """Build the request object that call() sends."""
        req = {'jsonrpc': '2.0', 'method': method, 'id': self._next_id}
        self._next_id += 1
        if params:
            req['params'] = params
        return req

    def call(self, method, params=None):
        req = self.request(method, params)
        self.connect()
        log.info('request:\n%s', json.dumps(req, indent=2))
        try:
            self._sock.sendall(json.dumps(req).encode('utf-8'))
        except OSError as e:
            raise ConnectError('cannot send to %s: %s' % (self.name, e.strerror or e))
        resp = self._receive(method)
        if resp is None:
            return None
        log.info('response:\n%s', json.dumps(resp, indent=2))
        if not isinstance(resp, dict):
            raise ProtocolError('%s sent a response that is not a JSON object: %s'
                                % (self.name, json.dumps(resp)))
        if 'error' in resp:
            raise RpcError(req, resp['error'])
        if 'result' not in resp:
            raise ProtocolError('%s sent a response with neither result nor error: %s'
                                % (self.name, json.dumps(resp)))
        return resp['result']

    def _receive(self, method):
        deadline = time.monotonic() + self.timeout
        while True:
            value = self._reader.next_value()
            if value is not None:
                return value
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._timeout(method)
            self._sock.settimeout(remaining)
            try:
                data = self._sock.recv(65536)
            except socket.timeout:
                raise self._timeout(method)
            except OSError as e:
                data = b''
                log.debug('recv from %s failed: %s', self.name, e)
            if not data:
                self.close()
                pending = self._reader.pending().strip()
                if method == 'spdk_kill_instance' and not pending:
                    # The daemon may exit before it answers: that is success.
                    return None
                if pending:
                    raise ProtocolError('%s closed the connection in the middle of a '
                                        'response (invalid JSON?): %s' % (self.name, pending))
                raise ProtocolError('%s closed the connection without answering %s'
                                    % (self.name, method))
            log.debug('received %d bytes', len(data))
            self._reader.feed(data)

    def _timeout(self, method):
        pending = self._reader.pending().strip()
        extra = (' (partial response: %s)' % pending[:200]) if pending else ''
        return RpcTimeout('timed out after %g s waiting for the response to %s from %s%s'
                          % (self.timeout, method, self.name, extra))


class DryRunClient(JsonRpcClient):
    """Prints each request instead of sending it; needs no daemon."""

    def __init__(self, server=DEFAULT_SOCKET, port=None, timeout=DEFAULT_TIMEOUT,
                 conn_retries=0, out=None):
        self.timeout = timeout
        self.dry_run = True
        self.name = server
        self._next_id = 1
        self._sock = None
        self._out = out

    def call(self, method, params=None):
        print(json.dumps(self.request(method, params), indent=2), file=self._out)
        return DRY_RUN

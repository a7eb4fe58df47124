# shellcheck shell=bash
# SPDX-License-Identifier: BSD-3-Clause
# What the host sides of the kernel initiator tests share; sourced by
# test/<area>/kernel_initiator.sh after test/common/guest/guest.sh. The caller
# defines log() first, and sets TGT_LABEL (the target's name in failure logs)
# and, for rpc_batch, RPC (scripts/rpc.py) and SOCK.
#   ms / secs A B / phase NAME START_MS   timing (T_START, PHASES)
#   flip_byte FILE OFFSET                 invert one byte (KI_SELFTEST modes)
#   ki_skip_without_qemu                  exit 0 when OSPREY_SKIP_QEMU=1 or
#                                         OSPREY_PKGDEP_QEMU=0
#   ki_tmp PREFIX                         TMP, TPID, QPID and an EXIT trap that
#                                         stops QEMU and the target (by PID) and
#                                         removes TMP unless KI_KEEP=1
#   show_logs / die MSG                   the guest console and target log tails
#   ki_need_tools TOOL...                 die naming a missing tool
#   ki_pick_port FIRST COUNT              PORT: the first free port on 127.0.0.1
#   ki_start_daemon CMD...                start an Osprey daemon (output in
#                                         TMP/tgt.log, TPID), wait for SOCK
#   ki_guest_passed QEMU_RC               after guest_run: the guest booted, QEMU
#                                         ended in time and the guest printed an
#                                         OSPREY-RESULT PASS line (else die)
#   ki_pattern LAYER MB                   LAYER/ki/pattern.bin of MB random MiB
#                                         (+ expect.bin one byte off for
#                                         KI_SELFTEST=guest)
#   rpc_batch                             rpc.py commands from stdin (one per
#                                         line) in one Python process; a line
#                                         "call METHOD [JSON]" is a raw JSON-RPC
#                                         call (a method rpc.py lacks)

ms() { echo $(( ${EPOCHREALTIME/./} / 1000 )); }
# shellcheck disable=SC2034 # read by the sourcing test
T_START=$(ms)
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", (b - a) / 1000 }'; }
PHASES=()
phase() { # name start_ms
	PHASES+=("$1 $(secs "$2" "$(ms)")")
	log "phase $1: $(secs "$2" "$(ms)")"
}
flip_byte() { # file offset
	local b
	b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
	printf '%b' "\\x$(printf %02x $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

ki_skip_without_qemu() {
	if [ "${OSPREY_SKIP_QEMU:-0}" = 1 ] || [ "${OSPREY_PKGDEP_QEMU:-1}" = 0 ]; then
		log "SKIP (OSPREY_SKIP_QEMU=1 or OSPREY_PKGDEP_QEMU=0: no QEMU guests on this machine)"
		exit 0
	fi
}

# shellcheck disable=SC2317 # run by the EXIT trap
ki_cleanup() {
	if [ -n "$QPID" ] && kill -0 "$QPID" 2>/dev/null; then
		kill "$QPID" 2>/dev/null
		wait "$QPID" 2>/dev/null
	fi
	if [ -n "$TPID" ] && kill -0 "$TPID" 2>/dev/null; then
		kill -TERM "$TPID" 2>/dev/null
		for _ in $(seq 50); do kill -0 "$TPID" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$TPID" 2>/dev/null
		wait "$TPID" 2>/dev/null
	fi
	if [ "${KI_KEEP:-0}" = 1 ]; then
		log "kept $TMP"
	else
		rm -rf "$TMP"
	fi
}

ki_tmp() { # prefix
	TMP=$(mktemp -d "/tmp/$1.XXXXXX")
	TPID=
	QPID=
	trap ki_cleanup EXIT
	trap 'exit 1' INT TERM
}

show_logs() {
	if [ -s "$TMP/guest.log" ]; then
		echo "---- guest serial console (last 60 lines) ----"
		tr -d '\r' < "$TMP/guest.log" | grep -v $'\e' | tail -60
	fi
	# tgt.N.log: the logs of earlier runs of a target the test restarted.
	local f
	for f in "$TMP"/tgt.*.log "$TMP/tgt.log"; do
		[ -s "$f" ] || continue
		echo "---- $TGT_LABEL log $(basename "$f") (last 60 lines) ----"
		tail -60 "$f"
	done
	echo "---- (KI_KEEP=1 keeps every log and the backing file)"
}
die() {
	log "FAIL: $*"
	show_logs
	exit 1
}

ki_guest_passed() { # qemu exit status
	local result
	grep -q 'OSPREY-BOOT' "$GUEST_TXT" || die "the guest never reached its init (QEMU exit $1)"
	[ "$1" -eq 124 ] && die "QEMU did not finish within ${GUEST_TIMEOUT}s (timeout)"
	result=$(guest_result)
	[ -n "$result" ] || die "the guest printed no OSPREY-RESULT line (QEMU exit $1)"
	case "$result" in
	PASS*) log "guest: $result" ;;
	*) die "guest: $result" ;;
	esac
}

ki_need_tools() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || die "$tool not found: run scripts/pkgdep.sh"
	done
}

ki_pick_port() { # first count
	PORT=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do
		PORT=$((PORT + 1))
		[ "$PORT" -lt $(($1 + $2)) ] || die "no free port in $1-$(($1 + $2 - 1))"
	done
}

ki_start_daemon() {
	"$@" > "$TMP/tgt.log" 2>&1 &
	TPID=$!
	for _ in $(seq 300); do
		[ -S "$SOCK" ] && break
		kill -0 "$TPID" 2>/dev/null || break
		sleep 0.1
	done
	kill -0 "$TPID" 2>/dev/null || die "$TGT_LABEL exited at start-up"
}

ki_pattern() { # layer mb
	mkdir -p "$1/ki"
	head -c $(($2 * 1048576)) /dev/urandom > "$1/ki/pattern.bin"
	if [ "${SELFTEST:-}" = guest ]; then
		cp "$1/ki/pattern.bin" "$1/ki/expect.bin"
		flip_byte "$1/ki/expect.bin" 12345
	fi
}

# The RPCs go through scripts/rpc.py's own main(), all in one Python process:
# a Python start-up costs 0.1-2 s on a loaded machine. One command per line;
# the first failure stops the batch with rpc.py's error message.
RPC_BATCH_PY=$(cat <<'PY'
import contextlib, importlib.util, io, os, shlex, sys
spec = importlib.util.spec_from_file_location("osp_rpc_cli", sys.argv[1])
cli = importlib.util.module_from_spec(spec)
sys.path.insert(0, os.path.dirname(sys.argv[1]))
spec.loader.exec_module(cli)
n = 0
for line in sys.stdin.read().splitlines():
    if not line.strip():
        continue
    out, err = io.StringIO(), io.StringIO()
    words = shlex.split(line)
    if words[0] == "call":
        import json
        from rpc.client import JsonRpcClient
        try:
            r = JsonRpcClient(sys.argv[2], timeout=30).call(
                words[1], json.loads(words[2]) if len(words) > 2 else None)
            out.write(json.dumps(r))
            rc = 0
        except Exception as e:  # the error's text is the message
            err.write(str(e))
            rc = 1
        words = words[1:]
    else:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = cli.main(["-s", sys.argv[2], "-t", "30"] + words)
            except SystemExit as e:
                rc = e.code if isinstance(e.code, int) else 1
    text = (out.getvalue() + err.getvalue()).strip()
    if rc != 0:
        print("rpc.py %s: %s" % (line, " ".join(text.split())[:400]))
        sys.exit(1)
    print("  rpc: %s%s" % (words[0], (" -> " + " ".join(text.split())[:100]) if text else ""))
    n += 1
if n == 0:
    sys.exit("rpc batch: no commands")
PY
)
rpc_batch() {
	python3 -c "$RPC_BATCH_PY" "$RPC" "$SOCK"
}

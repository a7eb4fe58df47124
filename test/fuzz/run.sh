#!/usr/bin/env bash
# Build and run the libFuzzer harnesses under ASan+UBSan: the NVMe/TCP PDU
# receiver (test/fuzz/nvme_tcp_recv_fuzz.c), the NVMe-oF target's TCP
# transport receive path with a fake core (test/fuzz/nvmf_tcp_fuzz.c) and the
# iSCSI login text keys' parser and negotiation (test/fuzz/iscsi_text_fuzz.c)
# and the iSCSI target's PDU receive path (test/fuzz/iscsi_pdu_fuzz.c) and the
# virtqueue layer (test/fuzz/vring_fuzz.c), each
# for FUZZ_SECONDS.
#
#   FUZZ_SECONDS  how long to fuzz (default 20)
#   FUZZ_JOBS     parallel fuzzing workers (default 1)
#   FUZZ_OUT      build/work directory (default build/fuzz)
#   FUZZ_CFLAGS   extra compiler flags for the harness, e.g. -DFUZZ_NO_NULL_EMPTY_IOV
#
# Seeds: made by test/fuzz/gen_seeds.c with the codec's builders, plus any
# files committed in test/fuzz/corpus/nvme_tcp_recv/ and the saved crash
# reproducers in test/fuzz/crashes/ (replayed first; they must not crash).
# The transport harness has its own seed writer (built with
# -DNVMF_TCP_FUZZ_GEN_SEEDS) and reproducers in test/fuzz/crashes_nvmf_tcp/;
# the iSCSI text harness too (-DISCSI_TEXT_FUZZ_GEN_SEEDS: the real
# initiators' logins) with reproducers in test/fuzz/crashes_iscsi_text/.
# New crash inputs are written to $FUZZ_OUT/artifacts/.
# Prints "1 passed, 0 failed" or "0 passed, 1 failed" last.
set -u
cd "$(dirname "$0")/../.."

FUZZ_SECONDS=${FUZZ_SECONDS:-20}
FUZZ_JOBS=${FUZZ_JOBS:-1}
OUT=${FUZZ_OUT:-build/fuzz}
CC=${FUZZ_CC:-clang}

result() { # result <rc>
	if [ "$1" -eq 0 ]; then
		echo "1 passed, 0 failed"
	else
		echo "0 passed, 1 failed"
	fi
	exit "$1"
}

TMPDIRS=()
trap 'rm -rf "${TMPDIRS[@]}"' EXIT

# fuzz_harness NAME LABEL MAX_LEN: for a harness built as $OUT/NAME_fuzz with
# its seed writer $OUT/NAME_fuzz_seeds: write the seeds, add the saved
# reproducers of test/fuzz/crashes_NAME/, replay them all alone, then fuzz for
# FUZZ_SECONDS with the corpus $OUT/corpus_NAME (artifacts $OUT/artifacts/NAME-*).
fuzz_harness() {
	local name=$1 label=$2 maxlen=$3 dir rc
	dir=$(mktemp -d)
	TMPDIRS+=("$dir")
	if ! "$OUT/${name}_fuzz_seeds" "$dir"; then
		echo "fuzz: $label seed generation failed" >&2
		result 1
	fi
	[ -d "test/fuzz/crashes_$name" ] &&
		find "test/fuzz/crashes_$name" -type f ! -name '*.md' -exec cp {} "$dir/" \;
	mkdir -p "$OUT/corpus_$name"
	if ! "$OUT/${name}_fuzz" -runs=0 "$dir"/* >"$OUT/replay_$name.log" 2>&1; then
		tail -40 "$OUT/replay_$name.log"
		echo "fuzz: a $label seed or saved reproducer crashes (see $OUT/replay_$name.log)" >&2
		result 1
	fi
	echo "fuzz: $label harness running for ${FUZZ_SECONDS}s"
	"$OUT/${name}_fuzz" -max_total_time="$FUZZ_SECONDS" -max_len="$maxlen" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$OUT/artifacts/$name-" \
		"$OUT/corpus_$name" "$dir" >"$OUT/fuzz_$name.log" 2>&1
	rc=$?
	grep -E '^#[0-9]+.*(DONE|pulse)|stat::' "$OUT/fuzz_$name.log" | tail -8
	if [ "$rc" -ne 0 ]; then
		tail -60 "$OUT/fuzz_$name.log"
		echo "fuzz: $label harness FAILED (rc $rc); reproducer in $OUT/artifacts/" >&2
		result 1
	fi
}

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "fuzz: '$CC' not found; install clang and libclang-rt-14-dev (scripts/pkgdep.sh)" >&2
	result 1
fi

mkdir -p "$OUT/corpus" "$OUT/artifacts" || result 1

CFLAGS=(-std=gnu11 -g -O1 -D_GNU_SOURCE -msse4.2 -fno-omit-frame-pointer
	-I include -I /usr/include/cjson -Wall -Wno-unused-parameter)
SRCS=(lib/nvme_tcp_codec/*.c lib/util/util.c lib/util/iov.c)

echo "fuzz: building harness"
if ! "$CC" "${CFLAGS[@]}" ${FUZZ_CFLAGS:-} -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined test/fuzz/nvme_tcp_recv_fuzz.c "${SRCS[@]}" -o "$OUT/nvme_tcp_recv_fuzz"; then
	echo "fuzz: harness build failed (is libclang-rt-14-dev installed? see scripts/pkgdep.sh)" >&2
	result 1
fi
if ! "$CC" "${CFLAGS[@]}" -fsanitize=address,undefined test/fuzz/gen_seeds.c "${SRCS[@]}" \
	-o "$OUT/gen_seeds"; then
	echo "fuzz: seed generator build failed" >&2
	result 1
fi

seeds=$(mktemp -d)
TMPDIRS+=("$seeds")
if ! "$OUT/gen_seeds" "$seeds"; then
	echo "fuzz: seed generation failed" >&2
	result 1
fi
for d in test/fuzz/corpus/nvme_tcp_recv test/fuzz/crashes; do
	[ -d "$d" ] && find "$d" -type f ! -name '*.md' -exec cp {} "$seeds/" \;
done
echo "fuzz: $(ls "$seeds" | wc -l) seed inputs"

# Replay the seeds and known reproducers alone first: a regression shows up
# even if the timed run does not reach it.
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if ! "$OUT/nvme_tcp_recv_fuzz" -runs=0 "$seeds"/* >"$OUT/replay.log" 2>&1; then
	tail -40 "$OUT/replay.log"
	echo "fuzz: a seed or saved reproducer crashes (see $OUT/replay.log)" >&2
	result 1
fi

echo "fuzz: running for ${FUZZ_SECONDS}s"
args=(-max_total_time="$FUZZ_SECONDS" -max_len=8192 -timeout=10 -rss_limit_mb=2048
	-print_final_stats=1 -artifact_prefix="$OUT/artifacts/")
if [ "$FUZZ_JOBS" -gt 1 ]; then
	args+=(-jobs="$FUZZ_JOBS" -workers="$FUZZ_JOBS")
fi
"$OUT/nvme_tcp_recv_fuzz" "${args[@]}" "$OUT/corpus" "$seeds" >"$OUT/fuzz.log" 2>&1
rc=$?
grep -E '^#[0-9]+.*(DONE|pulse)|stat::' "$OUT/fuzz.log" | tail -8
if [ "$rc" -ne 0 ]; then
	tail -60 "$OUT/fuzz.log"
	echo "fuzz: FAILED (rc $rc); reproducer in $OUT/artifacts/:" >&2
	ls -1 "$OUT/artifacts/" >&2
	result 1
fi

echo "fuzz: building the target transport harness"
TSRCS=(lib/nvme_tcp_codec/pdu.c lib/util/util.c lib/util/iov.c)
if ! "$CC" "${CFLAGS[@]}" ${FUZZ_CFLAGS:-} -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined test/fuzz/nvmf_tcp_fuzz.c "${TSRCS[@]}" -lcjson \
	-o "$OUT/nvmf_tcp_fuzz" ||
	! "$CC" "${CFLAGS[@]}" -DNVMF_TCP_FUZZ_GEN_SEEDS -fsanitize=address,undefined \
	test/fuzz/nvmf_tcp_fuzz.c "${TSRCS[@]}" -lcjson -o "$OUT/nvmf_tcp_fuzz_seeds"; then
	echo "fuzz: transport harness build failed" >&2
	result 1
fi
fuzz_harness nvmf_tcp "transport" 8192

echo "fuzz: building the iSCSI text key harness"
ISRCS=(lib/iscsi/param.c lib/iscsi/chap.c lib/util/md5.c lib/util/util.c)
if ! "$CC" "${CFLAGS[@]}" -I lib ${FUZZ_CFLAGS:-} -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined test/fuzz/iscsi_text_fuzz.c "${ISRCS[@]}" \
	-o "$OUT/iscsi_text_fuzz" ||
	! "$CC" "${CFLAGS[@]}" -I lib -DISCSI_TEXT_FUZZ_GEN_SEEDS -fsanitize=address,undefined \
	test/fuzz/iscsi_text_fuzz.c "${ISRCS[@]}" -o "$OUT/iscsi_text_fuzz_seeds"; then
	echo "fuzz: iSCSI text harness build failed" >&2
	result 1
fi
fuzz_harness iscsi_text "iSCSI text" 16384
# The iSCSI target's PDU receive path (test/fuzz/iscsi_pdu_fuzz.c): lib/iscsi
# compiled in with fake sockets, threads and SCSI layer; its own seed writer
# (-DISCSI_PDU_FUZZ_GEN_SEEDS) and reproducers in test/fuzz/crashes_iscsi_pdu/.
echo "fuzz: building the iSCSI PDU harness"
ISRCS=(lib/util/util.c lib/util/iov.c lib/util/md5.c)
if ! "$CC" "${CFLAGS[@]}" ${FUZZ_CFLAGS:-} -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined test/fuzz/iscsi_pdu_fuzz.c "${ISRCS[@]}" -lcjson \
	-o "$OUT/iscsi_pdu_fuzz" ||
	! "$CC" "${CFLAGS[@]}" -DISCSI_PDU_FUZZ_GEN_SEEDS -fsanitize=address,undefined \
	test/fuzz/iscsi_pdu_fuzz.c "${ISRCS[@]}" -lcjson -o "$OUT/iscsi_pdu_fuzz_seeds"; then
	echo "fuzz: iSCSI PDU harness build failed" >&2
	result 1
fi
fuzz_harness iscsi_pdu "iSCSI PDU" 8192
# The virtqueue layer (test/fuzz/vring_fuzz.c): lib/vhost/vring.c and mem.c over
# random split/packed ring contents in a fixed guest memory table; its own seed
# writer (-DVRING_FUZZ_GEN_SEEDS) and reproducers in test/fuzz/crashes_vring/.
echo "fuzz: building the virtqueue harness"
VSRCS=(lib/vhost/mem.c lib/vhost/vring.c)
if ! "$CC" "${CFLAGS[@]}" -I lib ${FUZZ_CFLAGS:-} -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=undefined test/fuzz/vring_fuzz.c "${VSRCS[@]}" \
	-o "$OUT/vring_fuzz" ||
	! "$CC" "${CFLAGS[@]}" -I lib -DVRING_FUZZ_GEN_SEEDS -fsanitize=address,undefined \
	test/fuzz/vring_fuzz.c -o "$OUT/vring_fuzz_seeds"; then
	echo "fuzz: virtqueue harness build failed" >&2
	result 1
fi
fuzz_harness vring "virtqueue" 30000
result 0

#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# Guest side of test/iscsi/kernel_initiator.sh: the Linux kernel's iscsi_tcp
# initiator, driven by open-iscsi's iscsid + iscsiadm, against the target on
# the host (10.0.2.2 through slirp). Runs as /ki/test.sh from init;
# parameters come from /ki/env, the data from /ki/pattern.bin (random bytes
# made by the host for this run). Steps:
#   1. iscsid up; SendTargets discovery must report exactly KI_IQN
#   2. login with a wrong CHAP secret must be refused (authorization failure)
#   3. login with the right one; the disk appears with the configured size
#   4. write the pattern at KI_OFF_MB with O_DIRECT + fsync, read it back with
#      O_DIRECT and compare; the first MiB, never written, reads as zeros
#   5. KI_READS single 1 MiB O_DIRECT reads (queue depth 1) over the pattern,
#      each timed and compared: any read slower than KI_READ_MAX_MS fails
#   6. logout (the disk goes away), login again, read the pattern back and
#      time KI_READS2 reads again, logout
# Prints OSPREY-STEP lines and one OSPREY-RESULT line.
. /ki/env
H=10.0.2.2
P=$H:$KI_PORT
EXPECT=/ki/expect.bin
[ -f "$EXPECT" ] || EXPECT=/ki/pattern.bin
DEV=
LOGGED_IN=0

up() { cut -d' ' -f1 /proc/uptime; }
step() { echo "OSPREY-STEP $* (t=$(up))"; }
since() { echo "$1 $(up)" | awk '{printf "%.2f s", $2 - $1}'; }
dump() {
	dmesg | grep -iE 'scsi|iscsi|sd[a-z]|connection' | tail -30 | sed 's/^/dmesg: /'
	[ -s /tmp/iscsid.log ] && tail -15 /tmp/iscsid.log | sed 's/^/iscsid: /'
}
fail() {
	echo "OSPREY-RESULT: FAIL: $*"
	dump
	[ "$LOGGED_IN" = 1 ] && iscsiadm -m node -T "$KI_IQN" -p "$P" --logout >/dev/null 2>&1
	exit 1
}
adm() { # iscsiadm with its output kept for error messages
	iscsiadm "$@" > /tmp/adm.out 2>&1
}
admerr() { tr '\n' ' ' < /tmp/adm.out | cut -c1-300; }
node_set() { # name value
	adm -m node -T "$KI_IQN" -p "$P" -o update -n "$1" -v "$2" || fail "iscsiadm update $1: $(admerr)"
}

# ---- iscsid ----------------------------------------------------------------
mkdir -p /etc/iscsi/nodes /etc/iscsi/send_targets /etc/iscsi/ifaces /run/lock/iscsi /var/lock/iscsi
echo "InitiatorName=$KI_INITIATOR" > /etc/iscsi/initiatorname.iscsi
# open-iscsi's defaults but for what the test needs: manual start-up, and a
# lost connection fails I/O after 15 s rather than 120 (the NOP-Out ping of
# an idle connection stays at the default 5 s: a read stalled until the next
# ping is what the latency check must catch).
cat > /etc/iscsi/iscsid.conf <<EOC
node.startup = manual
node.session.timeo.replacement_timeout = 15
node.conn[0].timeo.login_timeout = 15
node.conn[0].timeo.logout_timeout = 15
node.conn[0].timeo.noop_out_interval = 5
node.conn[0].timeo.noop_out_timeout = 5
node.session.initial_login_retry_max = 1
node.session.iscsi.InitialR2T = No
node.session.iscsi.ImmediateData = Yes
EOC
# KI_GUEST_SETUP: shell commands run here (experiments).
[ -n "${KI_GUEST_SETUP:-}" ] && eval "$KI_GUEST_SETUP"
# KI_ISCSID_CONF: extra iscsid.conf lines, ';'-separated (experiments).
[ -n "${KI_ISCSID_CONF:-}" ] && echo "$KI_ISCSID_CONF" | tr ';' '\n' >> /etc/iscsi/iscsid.conf
iscsid -f > /tmp/iscsid.log 2>&1 &
i=0
while [ $i -lt 100 ]; do
	# Once iscsid answers: 0 (sessions) or 21 (none); before: 20 (no connection).
	iscsiadm -m session > /dev/null 2>&1
	rc=$?
	[ $rc -eq 0 ] || [ $rc -eq 21 ] && break
	sleep 0.1; i=$((i + 1))
done
[ $i -lt 100 ] || fail "iscsid does not answer: $(tail -3 /tmp/iscsid.log | tr '\n' ' ')"
[ -e /sys/module/iscsi_tcp ] || fail "iscsi_tcp is not loaded"
step "iscsid up; initiator $KI_INITIATOR; pattern $(md5sum < /ki/pattern.bin | cut -c1-32), $((KI_LEN_MB)) MiB"

# ---- 1. discovery ----------------------------------------------------------
t0=$(up)
adm -m discovery -t sendtargets -p "$P" || fail "SendTargets discovery at $P: $(admerr)"
# One line per target portal: "ADDR:PORT,TPGT IQN". The portal is the one
# the target listens on (127.0.0.1 on the host, which the guest reaches as
# 10.0.2.2), so the login record is made for $P below.
got=$(awk '{print $2}' /tmp/adm.out | sort -u | tr '\n' ' ')
[ "$got" = "$KI_IQN " ] || fail "discovery reported '$got', expected exactly $KI_IQN ($(admerr))"
step "discovery: $(tr '\n' ' ' < /tmp/adm.out) in $(since "$t0")"
adm -m node -o delete > /dev/null 2>&1
adm -m node -o new -T "$KI_IQN" -p "$P" || fail "iscsiadm -o new: $(admerr)"

login() { # label
	t0=$(up)
	adm -m node -T "$KI_IQN" -p "$P" --login
}
find_disk() { # label: the sd device of the session's LUN 0
	DEV=
	i=0
	while [ $i -lt 200 ]; do
		for b in /sys/class/iscsi_session/session*/device/target*/*:0:0:"$KI_LUN"/block/*; do
			[ -e "$b" ] && DEV=/dev/$(basename "$b")
		done
		[ -n "$DEV" ] && [ -b "$DEV" ] && break
		sleep 0.1; i=$((i + 1))
	done
	{ [ -n "$DEV" ] && [ -b "$DEV" ]; } || fail "$1: logged in but no disk after 20 s ($(ls /sys/class/scsi_disk 2>/dev/null))"
	b=$(basename "$DEV")
	size=$(( $(cat "/sys/block/$b/size") * 512 ))
	[ "$size" = "$KI_DISK_BYTES" ] || fail "$1: $DEV has $size bytes, expected $KI_DISK_BYTES"
	lbs=$(cat "/sys/block/$b/queue/logical_block_size")
	[ "$lbs" = "$KI_BS" ] || fail "$1: $DEV logical block size $lbs, expected $KI_BS"
	step "$1: logged in -> $DEV ($size bytes, $lbs-byte blocks, vendor '$(tr -s ' ' < "/sys/block/$b/device/vendor")' model '$(tr -s ' ' < "/sys/block/$b/device/model")') in $(since "$t0")"
}
logout() { # label
	t0=$(up)
	adm -m node -T "$KI_IQN" -p "$P" --logout || fail "$1: logout: $(admerr)"
	LOGGED_IN=0
	i=0
	while [ -e "/sys/block/$(basename "$DEV")" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	[ -e "/sys/block/$(basename "$DEV")" ] && fail "$1: $DEV still there 10 s after logout"
	iscsiadm -m session > /dev/null 2>&1 && fail "$1: a session is left after logout: $(iscsiadm -m session 2>&1)"
	step "$1: logged out, $DEV gone, in $(since "$t0")"
}
readback() { # label: the pattern at KI_OFF_MB, in one O_DIRECT stream
	t0=$(up)
	dd if="$DEV" of=/tmp/rb bs=1M count="$KI_LEN_MB" skip="$KI_OFF_MB" iflag=direct 2>/tmp/dd.err ||
		fail "$1: read: $(tail -1 /tmp/dd.err)"
	cmp /tmp/rb "$EXPECT" > /tmp/cmp.out 2>&1 || fail "$1: read back wrong: $(cat /tmp/cmp.out)"
	rm -f /tmp/rb
	step "$1: $KI_LEN_MB MiB read back right in $(since "$t0")"
}
latency() { # label count
	/ki/rdlat "$DEV" $((KI_OFF_MB * 1048576)) $((KI_LEN_MB * 1048576)) 1048576 "$2" "$EXPECT" \
		"$KI_READ_MAX_MS" > /tmp/rdlat.out 2>&1
	rc=$?
	grep 'slow read' /tmp/rdlat.out | head -10 | sed 's/^/OSPREY-SLOW /'
	res=$(grep -v 'slow read' /tmp/rdlat.out | tail -1)
	echo "OSPREY-LATENCY $1: $res"
	# The guest's TCP counters that tell a zero-window story (see
	# doc/kernel_initiator.md, "read stalls").
	awk '/^TcpExt:/ { if (!n) { split($0, k); n = 1 } else { for (i = 2; i <= NF; i++) if ($i != 0 && k[i] ~ /ZeroWindow|DelayedACK|Backlog|Prune|RcvCollapsed|OFO|Quick|Pure|WinProbe|RcvQDrop/) printf "%s=%s ", k[i], $i } }' \
		/proc/net/netstat | sed 's/^/OSPREY-TCPEXT /'
	echo
	case $rc in
	0) ;;
	2) fail "$1: reads slower than $KI_READ_MAX_MS ms: $res" ;;
	*) fail "$1: $res" ;;
	esac
}

# ---- 2. a wrong CHAP secret ------------------------------------------------
node_set node.session.auth.authmethod CHAP
node_set node.session.auth.username "$KI_CHAP_USER"
node_set node.session.auth.password "$KI_BAD_SECRET"
login "wrong secret"
rc=$?
if [ $rc -eq 0 ]; then
	LOGGED_IN=1
	fail "wrong secret: the target let $KI_CHAP_USER in with a wrong CHAP secret"
fi
# iscsiadm: 24 = ISCSI_ERR_LOGIN_AUTH_FAILED (the target's "authorization failure").
case $rc in
24) ;;
*) fail "wrong secret: login failed with iscsiadm status $rc, expected 24 (authorization failure): $(admerr)" ;;
esac
iscsiadm -m session > /dev/null 2>&1 && fail "wrong secret: a session exists: $(iscsiadm -m session 2>&1)"
step "wrong secret: refused as it should be (iscsiadm status $rc: $(grep -m1 -i 'auth' /tmp/adm.out))"

# ---- 3. CHAP login ---------------------------------------------------------
# Where iscsi_tcp reads its socket (see doc/kernel_initiator.md, "read
# stalls"): from the network softirq (the kernel's default) a reopened
# receive window is sometimes never announced to slirp, which then waits for
# its 5 s persist timer or the next NOP-Out, whatever the target; from the
# iscsi_q workqueue (process context, like nvme-tcp's io_work) it is. Set
# only now: in 6.1 the workqueue mode crashes (NULL dereference in
# iscsi_sw_tcp_recv_data_work) when a login fails, as the wrong secret does.
case "${KI_GUEST_RX:-wq}" in
wq) echo Y > /sys/module/iscsi_tcp/parameters/recv_from_iscsi_q || fail "iscsi_tcp has no recv_from_iscsi_q parameter" ;;
softirq) ;;
*) fail "KI_GUEST_RX=$KI_GUEST_RX: wq or softirq" ;;
esac
node_set node.session.auth.password "$KI_CHAP_SECRET"
login "login" || fail "login with CHAP as $KI_CHAP_USER: $(admerr)"
LOGGED_IN=1
find_disk "login"
step "login: iscsi_tcp reads from $([ "$(cat /sys/module/iscsi_tcp/parameters/recv_from_iscsi_q)" = Y ] && echo 'its workqueue' || echo 'the softirq')"

# ---- 4. write, read back ---------------------------------------------------
t0=$(up)
dd if=/ki/pattern.bin of="$DEV" bs=1M seek="$KI_OFF_MB" oflag=direct conv=fsync 2>/tmp/dd.err ||
	fail "write: $(tail -1 /tmp/dd.err)"
step "write: $KI_LEN_MB MiB at $KI_OFF_MB MiB (O_DIRECT + fsync) in $(since "$t0")"
readback "read"
dd if="$DEV" bs=1M count=1 iflag=direct 2>/dev/null | md5sum > /tmp/z1
dd if=/dev/zero bs=1M count=1 2>/dev/null | md5sum > /tmp/z2
cmp -s /tmp/z1 /tmp/z2 || fail "read: the first MiB, never written, does not read as zeros"
step "read: unwritten first MiB reads as zeros"

# ---- 5. read latency -------------------------------------------------------
latency "session 1" "$KI_READS"

# ---- 6. logout, login again, verify again ------------------------------------
logout "logout"
login "login again" || fail "login again: $(admerr)"
LOGGED_IN=1
find_disk "login again"
readback "verify again"
latency "session 2" "$KI_READS2"
logout "logout again"

dump
echo "OSPREY-RESULT: PASS"

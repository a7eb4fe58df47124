#!/usr/bin/env bash
# check_deps.sh <libdir> <lib>=<its declared closure> ...   (run by `make check-deps`)
# Every undefined symbol of libosp_<lib>.a that another Osprey library defines must
# be defined inside <lib>'s declared closure (mk/deps.mk); symbols no Osprey library
# defines are left to the system libraries (the link of every program checks those).
# Prints one line per offending symbol, naming the library, the symbol and where it
# is defined, and exits 1 if there is any.
set -u
libdir=$1
shift
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for spec in "$@"; do
	l=${spec%%=*}
	nm -g --defined-only "$libdir/libosp_$l.a" | awk -v l="$l" 'NF == 3 { print $3, l }'
done | sort -u >"$tmp/defs"

bad=0
for spec in "$@"; do
	l=${spec%%=*}
	closure=" ${spec#*=} $l "
	nm -u "$libdir/libosp_$l.a" | awk 'NF == 2 { print $2 }' | sort -u >"$tmp/undef"
	# symbol and every library defining it, one line per symbol
	join "$tmp/undef" "$tmp/defs" | awk '{ d[$1] = d[$1] " " $2 } END { for (s in d) print s d[s] }' |
		sort >"$tmp/uses"
	while read -r sym owners; do
		ok=0
		for o in $owners; do
			case "$closure" in *" $o "*) ok=1 ;; esac
		done
		if [ "$ok" -eq 0 ]; then
			echo "check-deps: libosp_$l.a uses $sym, defined in$(printf ' libosp_%s.a' $owners)," \
				"which DEPDIRS-$l in mk/deps.mk does not reach"
			bad=1
		fi
	done <"$tmp/uses"
done
if [ "$bad" -ne 0 ]; then
	echo "check-deps: declare the missing libraries in mk/deps.mk (or stop using them)"
	exit 1
fi
echo "check-deps: $# libraries, every Osprey symbol they use is inside their declared closure"

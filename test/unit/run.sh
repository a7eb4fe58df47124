#!/usr/bin/env bash
# Run unit test binaries given as arguments; print a summary line.
# Each binary is a CUnit program that ends with ut_run_suites() (test/common):
# exit status 0 when every assertion held, 1 otherwise.
set -u
pass=0
fail=0
failed=()
for t in "$@"; do
	log=$(mktemp)
	if "$t" >"$log" 2>&1; then
		pass=$((pass + 1))
		printf '  PASS %s\n' "$t"
	else
		fail=$((fail + 1))
		failed+=("$t")
		printf '  FAIL %s\n' "$t"
		sed 's/^/    | /' "$log" | tail -40
	fi
	rm -f "$log"
done
echo "unit: $pass passed, $fail failed"
[ "$fail" -eq 0 ]

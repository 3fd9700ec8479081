#!/usr/bin/env bash
# check_symbols.sh BUILD_DIR -- every symbol the module libraries export carries the vx_
# prefix (STYLE.md R3, R24). Looks at src/*/libvx_*.a in the build tree, not at the
# test-only libvx_*_t.a (built with -DVX_UNIT_TESTS, where VX_TESTABLE helpers are
# deliberately non-static). Names starting with "__" are the compiler's, and main is main.
set -euo pipefail
build=${1:?usage: check_symbols.sh BUILD_DIR}
mapfile -t libs < <(find "$build/src" -name 'libvx_*.a' ! -name 'libvx_*_t.a' | sort)
if [ "${#libs[@]}" -eq 0 ]; then
    echo "no libvx_*.a under $build/src: build first"
    exit 1
fi
bad=0
for lib in "${libs[@]}"; do
    # defined, global: T text, D data, B bss, R read-only, C common
    while read -r sym; do
        echo "$(basename "$lib"): exported symbol '$sym' lacks the vx_ prefix"
        bad=$((bad + 1))
    done < <(nm -g --defined-only "$lib" 2>/dev/null |
        awk 'NF == 3 && $2 ~ /^[TDBRC]$/ { print $3 }' |
        grep -vE '^(vx_|__|main$)' | sort -u)
done
echo "${#libs[@]} libraries checked, $bad unprefixed symbols"
[ "$bad" -eq 0 ]

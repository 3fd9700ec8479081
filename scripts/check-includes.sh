#!/usr/bin/env bash
# check-includes.sh [SRC_ROOT] -- module dependencies form a DAG (STYLE.md R2, R13).
#
# A file in src/<m>/ may include "<d>/..." only for d = m or a module on a lower level:
#   0 common
#   1 store image inventory vex kube
#   2 auth sandbox trace findings
#   3 reach
#   4 queue
#   5 api
#   6 cmd
# Modules on the same level never include each other. A directory under src/ that is not
# in this table is an error: add it here, at the level its dependencies put it.
# Run by ctest (meta_check_includes); prints every offending line; exit 0 when clean.
set -euo pipefail
root=${1:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
cd "$root/src"

declare -A level=(
    [common]=0
    [store]=1 [image]=1 [inventory]=1 [vex]=1 [kube]=1
    [auth]=2 [sandbox]=2 [trace]=2 [findings]=2
    [reach]=3
    [queue]=4
    [api]=5
    [cmd]=6
)

bad=0
files=0
for dir in */; do
    m=${dir%/}
    if [ -z "${level[$m]+x}" ]; then
        echo "src/$m: module not in scripts/check-includes.sh's level table"
        bad=$((bad + 1))
        continue
    fi
    while IFS= read -r -d '' f; do
        files=$((files + 1))
        while IFS=: read -r lineno inc; do
            d=${inc%%/*}
            [ -d "$d" ] || continue            # "b64.h", "vmlinux.h": not a module path
            if [ "$d" != "$m" ] && { [ -z "${level[$d]+x}" ] || [ "${level[$d]}" -ge "${level[$m]}" ]; }; then
                echo "src/$f:$lineno: module '$m' includes \"$inc\" ('$d' is not below '$m')"
                bad=$((bad + 1))
            fi
        done < <(grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]+"[^"]+/' "$f" |
            sed -E 's/^([0-9]+):[^"]*"([^"]+)".*/\1:\2/')
    done < <(find "$m" -type f \( -name '*.c' -o -name '*.h' \) -print0)
done
echo "$files files checked, $bad include violations"
[ "$bad" -eq 0 ]

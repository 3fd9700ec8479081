#!/usr/bin/env bash
# quickstart.sh -- the README's first command: install what is needed, build, and analyse the
# bundled demo image end to end.
#
# 1. scripts/install-deps.sh (idempotent apt) and `make build`;
# 2. the demo image (tests/fixtures/build-image.py demo: debootstrap bookworm minbase with
#    nginx-light, curl, python3-minimal -- Debian packages only, cached by recipe under
#    /var/cache/vexxy-fixtures), as an OCI layout;
# 3. a scanner report for it in Trivy's JSON format: scripts/demo-findings.py lists the open
#    Debian CVEs of data/demo/cves.json for the packages the image really has, at the
#    versions it has (the mirror moves: versions are read from the image, never hard-coded);
# 4. `vexxy analyze` on the image with that report: nginx runs in the sandbox, traced by
#    fanotify, exercised over HTTP for QUICKSTART_DURATION seconds (default 10); the summary
#    table is printed and the documents are written to build/demo/ (OpenVEX, CycloneDX,
#    CSAF, evidence).
# Needs root (the sandbox uses namespaces, cgroups and overlayfs; the tracer fanotify).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
duration=${QUICKSTART_DURATION:-10}

if [ "$(id -u)" != 0 ]; then
    echo "quickstart: run as root: the sandbox needs namespaces, cgroups and overlayfs" >&2
    exit 2
fi
scripts/install-deps.sh
build=${VX_BUILD_DIR:-build}
make build BUILD_DIR="$build"
bin=$build/src/cmd/vexxy

echo "== demo image (debootstrap from Debian packages; cached after the first run)"
mkdir -p "$build/fixtures"
tests/fixtures/fixtures.sh images "$build/fixtures" >/dev/null
# shellcheck disable=SC1091
. "$build/fixtures/images.env"

out=$build/demo
mkdir -p "$out"
chmod 0711 "$out" # the sandbox's user namespace walks down to the job's rootfs below it
echo "== scanner report for the demo image: $out/findings.json"
"$bin" inventory "oci:$VEXXY_FIXTURE_DEMO" --json --no-files >"$out/inventory.json"
python3 scripts/demo-findings.py "$out/inventory.json" >"$out/findings.json"

echo "== vexxy analyze oci:$VEXXY_FIXTURE_DEMO --findings $out/findings.json --duration $duration"
"$bin" analyze "oci:$VEXXY_FIXTURE_DEMO" --findings "$out/findings.json" --duration "$duration" \
    --data-dir "$out/data" --format all -o "$out/vex" --evidence "$out/evidence.json"
echo
echo "Documents: $out/vex/openvex.json, cyclonedx.json, csaf.json, sbom.cdx.json (every package),"
echo "           sbom-in-use.cdx.json (the packages whose files ran); evidence: $out/evidence.json"
echo "Use them with a scanner, e.g.: trivy image --vex $out/vex/openvex.json IMAGE"

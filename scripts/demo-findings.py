#!/usr/bin/env python3
"""demo-findings.py INVENTORY_JSON [CVES_JSON] -- a Trivy-format report for the demo image.

INVENTORY_JSON is `vexxy inventory IMAGE --json` of the image; CVES_JSON (default
data/demo/cves.json) maps a Debian package name to its open CVEs. The report lists, for every
package of the list the image has, each CVE at the version the image has, as Trivy writes it
(SchemaVersion 2, Results[].Vulnerabilities[] with PkgIdentifier.PURL). Standard library only.
"""
import json
import os
import sys


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: demo-findings.py INVENTORY_JSON [CVES_JSON]\n")
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    cves_path = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "data", "demo",
                                                                     "cves.json")
    with open(sys.argv[1]) as f:
        inv = json.load(f)
    with open(cves_path) as f:
        cves = json.load(f)
    distro = inv.get("distro") or {}
    distro_ver = distro.get("version") or distro.get("version_id") or "12"
    pkgs = {p["name"]: p for p in inv.get("packages", []) if p.get("type") == "deb"}
    vulns = []
    for name in sorted(cves):
        if name.startswith("_") or name not in pkgs:
            continue
        p = pkgs[name]
        arch = p.get("arch") or "amd64"
        purl = "pkg:deb/debian/%s@%s?arch=%s&distro=debian-%s" % (name, p["version"], arch,
                                                                   distro_ver)
        for c in cves[name]:
            vulns.append({
                "VulnerabilityID": c["id"],
                "PkgID": "%s@%s" % (name, p["version"]),
                "PkgName": name,
                "PkgIdentifier": {"PURL": purl},
                "InstalledVersion": p["version"],
                "Status": c.get("status", "affected"),
                "Severity": c.get("severity", "UNKNOWN"),
                "Title": c.get("title", ""),
                "PrimaryURL": "https://avd.aquasec.com/nvd/" + c["id"].lower(),
            })
    report = {
        "SchemaVersion": 2,
        "ArtifactName": "vexxy-demo",
        "ArtifactType": "container_image",
        "Metadata": {"OS": {"Family": "debian", "Name": distro_ver}},
        "Results": [{"Target": "vexxy-demo (debian %s)" % distro_ver, "Class": "os-pkgs",
                     "Type": "debian", "Vulnerabilities": vulns}],
    }
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

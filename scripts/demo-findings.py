#!/usr/bin/env python3
"""demo-findings.py ROOTFS_OR_INVENTORY_JSON [CVES_JSON] -- a Trivy-format report for the demo.

The first argument is either the image's unpacked root filesystem (a directory: packages from
var/lib/dpkg/status, distro from etc/debian_version) or `vexxy inventory IMAGE --json` of the
image (a file: distro from its "distro" object). CVES_JSON (default data/demo/cves.json) maps a
Debian binary package name to its open CVEs. The report lists, for every package of the list
the image has, each CVE at the version the image has, the way Trivy writes it: SchemaVersion 2,
Results[].Vulnerabilities[] with InstalledVersion as dpkg spells it (epoch included) and
PkgIdentifier.PURL as Trivy spells it -- the epoch moved into an `epoch` qualifier, qualifiers
arch, distro=debian-<debian_version>, epoch in that order. Standard library only.
"""
import json
import os
import sys


def from_rootfs(root):
    """(packages {name: (version, arch)}, distro version) of an unpacked Debian rootfs."""
    pkgs, cur = {}, {}
    with open(os.path.join(root, "var", "lib", "dpkg", "status"), errors="replace") as f:
        for line in f.read().split("\n") + [""]:
            if not line.strip():
                if "installed" in cur.get("Status", "").split() and "Package" in cur:
                    pkgs[cur["Package"]] = (cur.get("Version", ""),
                                            cur.get("Architecture", "amd64"))
                cur = {}
            elif not line[0].isspace() and ":" in line:
                k, _, v = line.partition(":")
                cur[k] = v.strip()
    ver = "12"
    try:
        with open(os.path.join(root, "etc", "debian_version")) as f:
            ver = f.read().strip() or ver
    except OSError:
        pass
    return pkgs, ver


def from_inventory(path):
    with open(path) as f:
        inv = json.load(f)
    distro = inv.get("distro") or {}
    ver = distro.get("debian_version") or distro.get("version") or \
        distro.get("version_id") or "12"
    pkgs = {p["name"]: (p["version"], p.get("arch") or "amd64")
            for p in inv.get("packages", []) if p.get("type") == "deb"}
    return pkgs, ver


def trivy_purl(name, version, arch, distro_ver):
    """Trivy's spelling: version without the epoch, the epoch as a qualifier."""
    epoch = None
    if ":" in version and version.split(":", 1)[0].isdigit():
        epoch, version = version.split(":", 1)
    purl = "pkg:deb/debian/%s@%s?arch=%s&distro=debian-%s" % (name, version, arch, distro_ver)
    if epoch and epoch != "0":
        purl += "&epoch=" + epoch
    return purl


def main():
    if len(sys.argv) not in (2, 3):
        sys.stderr.write("usage: demo-findings.py ROOTFS_OR_INVENTORY_JSON [CVES_JSON]\n")
        return 2
    here = os.path.dirname(os.path.abspath(__file__))
    cves_path = sys.argv[2] if len(sys.argv) == 3 else os.path.join(here, "..", "data", "demo",
                                                                     "cves.json")
    src = sys.argv[1]
    pkgs, distro_ver = from_rootfs(src) if os.path.isdir(src) else from_inventory(src)
    with open(cves_path) as f:
        cves = json.load(f)
    vulns = []
    for name in sorted(cves):
        if name.startswith("_") or name not in pkgs:
            continue
        version, arch = pkgs[name]
        purl = trivy_purl(name, version, arch, distro_ver)
        for c in cves[name]:
            vulns.append({
                "VulnerabilityID": c["id"],
                "PkgID": "%s@%s" % (name, version),
                "PkgName": name,
                "PkgIdentifier": {"PURL": purl},
                "InstalledVersion": version,
                "FixedVersion": c.get("fixed_version"),
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

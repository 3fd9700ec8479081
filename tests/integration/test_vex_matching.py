#!/usr/bin/env python3
"""Would Trivy and Grype apply our OpenVEX? Their matching rules replayed on the demo run.

The demo image is pushed to the local registry and analysed by reference + digest
(`vexxy analyze docker://HOST:PORT/vexxy-test/demo@sha256:...`) with the README's report
(scripts/demo-findings.py: open Debian CVEs, purls spelled like Trivy). Then, for every finding
of the report and both scanners' rules (below, each with the source read):
 - a finding whose verdict is not_affected is suppressed by the document;
 - a finding whose verdict is affected is not (e.g. CVE-2009-4487 is not_affected for
   nginx-common but affected for nginx: the nginx-common statement must not hide nginx's);
 - no not_affected statement matches a finding of another package, nor the same finding
   in an image of another digest.

Rules (both scanners call openvex/go-vex's VEX.Matches(vuln, product, subcomponents); read in
openvex/go-vex pkg/vex/vex.go, statement.go, product.go):
 - vulnerability: statement.vulnerability.name == id or an alias == id;
 - Product.Matches(id, sub): the product component matches id, then, if the product has
   subcomponents and sub is given, one subcomponent must match sub;
 - Component.Matches(id): @id == id, or @id/identifiers.purl PurlMatches id, or a hash == id;
 - PurlMatches(general=statement, specific=scanned): type, namespace, name equal; a statement
   version must equal the scanned one; every qualifier of the statement must be present with
   the same value in the scanned purl (extra scanned qualifiers are fine).
Trivy (aquasecurity/trivy pkg/vex/vex.go filterVulnerabilities/reachRoot, openvex.go): first
the vulnerable package itself as product with no subcomponent, then every ancestor with a purl
as product and the package's purl as subcomponent; for an image the ancestor with a purl is
the root, pkg:oci/<last path element>@<repo digest>?arch=..&repository_url=<registry/repo>;
the last matching statement decides (not_affected/fixed suppress).
Grype (anchore/grype grype/vex/openvex/implementation.go; openvex/discovery pkg/oci
GenerateReferenceIdentifiers): products are pkg:oci/<name>@<digest>?repository_url=<reg/repo>,
the same with arch/os (and tag) qualifiers, and the bare digest hex; subcomponents are the
package's syft purl (pkg:deb/debian/NAME@VERSION-with-epoch?arch=..&distro=debian-<VERSION_ID>
[&upstream=SRC]); the first matching statement decides.
Needs root and the fixtures "images" and "registry"; skips (77) otherwise.
"""
import json
import os
import subprocess
import sys
import tempfile
import unittest
import urllib.parse

import vxdemo

VEXXY = vxdemo.VEXXY


def parse_purl(s):
    """(type, namespace, name, version, {qualifiers}) with percent-decoding, or None."""
    if not isinstance(s, str) or not s.startswith("pkg:"):
        return None
    s = s[4:].split("#", 1)[0]
    s, _, q = s.partition("?")
    quals = {}
    for kv in filter(None, q.split("&")):
        k, _, v = kv.partition("=")
        quals[k.lower()] = urllib.parse.unquote(v)
    s, _, version = s.partition("@") if "@" in s else (s, "", "")
    parts = [urllib.parse.unquote(p) for p in s.strip("/").split("/")]
    if len(parts) < 2:
        return None
    return (parts[0].lower(), "/".join(parts[1:-1]), parts[-1], urllib.parse.unquote(version),
            quals)


def purl_matches(general, specific):
    g, s = parse_purl(general), parse_purl(specific)
    if not g or not s or g[:3] != s[:3]:
        return False
    if g[3] and g[3] != s[3]:
        return False
    return all(s[4].get(k) == v for k, v in g[4].items())


def component_matches(c, ident):
    if c.get("@id") and c["@id"] == ident:
        return True
    if str(c.get("@id", "")).startswith("pkg:") and purl_matches(c["@id"], ident):
        return True
    for t, v in (c.get("identifiers") or {}).items():
        if v == ident or (t == "purl" and ident.startswith("pkg:") and purl_matches(v, ident)):
            return True
    return any(h == ident for h in (c.get("hashes") or {}).values())


def product_matches(p, ident, sub):
    if not component_matches(p, ident):
        return False
    if not p.get("subcomponents") or not sub:
        return True
    return any(component_matches(s, sub) for s in p["subcomponents"])


def statement_matches(st, vuln, product, subs):
    v = st.get("vulnerability") or {}
    if v.get("name") != vuln and vuln not in (v.get("aliases") or []):
        return False
    for p in st.get("products") or []:
        for sc in subs or [""]:
            if product_matches(p, product, sc):
                return True
    return False


def ordered(doc):
    """Statements in the document's history order (timestamp, then position)."""
    ts = doc.get("timestamp", "")
    return [s for _, _, s in sorted((s.get("timestamp") or ts, i, s)
                                    for i, s in enumerate(doc["statements"]))]


SUPPRESS = ("not_affected", "fixed")


def trivy_suppresses(doc, vuln, pkg_purl, root_purl):
    """Trivy: the package as product (no subcomponent), then the image root with the
    package as subcomponent; the last matching statement of a level decides."""
    for product, sub in ((pkg_purl, None), (root_purl, pkg_purl)):
        m = [s for s in ordered(doc) if statement_matches(s, vuln, product,
                                                          [sub] if sub else [])]
        if m and m[-1]["status"] in SUPPRESS:
            return m[-1]
    return None


def grype_suppresses(doc, vuln, syft_purl, products):
    for product in products:
        m = [s for s in ordered(doc) if statement_matches(s, vuln, product, [syft_purl])]
        if m:
            return m[0] if m[0]["status"] in SUPPRESS else None
    return None


def statement_pkgs(st):
    return {parse_purl(c.get("@id"))[2] for p in st["products"]
            for c in p.get("subcomponents") or [] if parse_purl(c.get("@id"))}


class VexMatchingTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vx-vexmatch-")
        os.chmod(self.tmp, 0o711)

    def tearDown(self):
        subprocess.run(["rm", "-rf", self.tmp])

    def test_trivy_and_grype_apply_our_openvex(self):
        repo = vxdemo.push_demo()
        digest = vxdemo.demo_digest()
        inv = vxdemo.inventory()
        absent = {"VulnerabilityID": "CVE-2099-0999", "PkgName": "libxml2",
                  "InstalledVersion": "2.9.14+dfsg-1.3",
                  "PkgIdentifier": {"PURL": "pkg:deb/debian/libxml2@2.9.14%2Bdfsg-1.3"
                                            "?arch=amd64&distro=debian-12"},
                  "Severity": "HIGH"}
        findings = vxdemo.demo_report(self.tmp, inv, [absent])
        out = os.path.join(self.tmp, "vex.json")
        r = subprocess.run([VEXXY, "analyze", "docker://%s@%s" % (repo, digest),
                            "--insecure-registry", "--findings", findings, "--duration", "8",
                            "--data-dir", os.path.join(self.tmp, "data"), "-o", out, "--json"],
                           capture_output=True, text=True, timeout=180)
        self.assertEqual(r.returncode, 0, r.stderr[-3000:])
        res = json.loads(r.stdout)
        with open(out) as f:
            doc = json.load(f)
        verdict = {(v["cve"], v["package"]): v["status"] for v in res["reachability_results"]}
        with open(findings) as f:
            vulns = json.load(f)["Results"][0]["Vulnerabilities"]

        hexd = digest.split(":", 1)[1]
        repo_q = urllib.parse.quote(repo, safe="")
        name = repo.rsplit("/", 1)[1]
        trivy_root = "pkg:oci/%s@sha256%%3A%s?arch=amd64&repository_url=%s" % (name, hexd,
                                                                              repo_q)
        grype_products = ["pkg:oci/%s@sha256%%3A%s?repository_url=%s" % (name, hexd, repo_q),
                          "pkg:oci/%s@sha256%%3A%s?arch=amd64&os=linux&repository_url=%s"
                          % (name, hexd, repo_q), hexd]
        pkgs = {p["name"]: p for p in inv["packages"]}
        distro = "debian-%s" % (inv.get("distro") or {}).get("version_id", "12")

        def syft_purl(v):
            p = pkgs.get(v["PkgName"])
            if not p:  # not in the image: grype would not have found it; use the report's
                return v["PkgIdentifier"]["PURL"]
            q = "arch=%s&distro=%s" % (p.get("arch") or "amd64", distro)
            if p.get("source_name") and p["source_name"] != p["name"]:
                q += "&upstream=" + urllib.parse.quote(p["source_name"], safe="")
            return "pkg:deb/debian/%s@%s?%s" % (p["name"], urllib.parse.quote(p["version"],
                                                                              safe=":+~"), q)

        rows, problems = [], []
        for v in vulns:
            key = (v["VulnerabilityID"], v["PkgName"])
            want = verdict.get(key)
            t = trivy_suppresses(doc, key[0], v["PkgIdentifier"]["PURL"], trivy_root)
            g = grype_suppresses(doc, key[0], syft_purl(v), grype_products)
            rows.append("%-16s %-22s %-13s trivy:%-10s grype:%s" % (
                key[0], key[1], want, "suppress" if t else "keep", "suppress" if g else "keep"))
            for who, st in (("trivy", t), ("grype", g)):
                if want == "not_affected" and not st:
                    problems.append("%s does not apply the not_affected statement to %s" %
                                    (who, key))
                if want != "not_affected" and st:
                    problems.append("%s suppresses %s (verdict %s) by %s" %
                                    (who, key, want, st["@id"]))
                other = "f" * 64  # the same finding in another image: nothing applies
                if trivy_suppresses(doc, key[0], v["PkgIdentifier"]["PURL"],
                                    trivy_root.replace(hexd, other)) or \
                        grype_suppresses(doc, key[0], syft_purl(v),
                                         [x.replace(hexd, other) for x in grype_products]):
                    problems.append("a statement applies to %s in another image" % (key,))
                if st and key[1] not in statement_pkgs(st):
                    problems.append("%s: statement %s about %s matched %s" %
                                    (who, st["@id"], statement_pkgs(st), key))
        print("\n".join(rows))
        self.assertGreater(sum(1 for s in verdict.values() if s == "not_affected"), 5)
        self.assertIn("affected", verdict.values())
        self.assertEqual(problems, [])


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not vxdemo.IMAGES.get("VEXXY_FIXTURE_DEMO") or not vxdemo.REGISTRY:
        print("skipped: no demo image/registry fixtures (tests/fixtures)")
        sys.exit(77)
    unittest.main(verbosity=2)

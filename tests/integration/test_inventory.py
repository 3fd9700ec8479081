#!/usr/bin/python3
"""`vexxy inventory` and `vexxy findings --inventory` on the project's own test images
(tests/fixtures): the demo and tiny images are unpacked with `vexxy image unpack`, and the
inventory is compared with dpkg's own view of the same rootfs (`dpkg-query --admindir`):
the same packages at the same versions and architectures, and every regular file under /usr
and /etc that a package's info/*.list names (canonicalised inside the rootfs: /lib ->
usr/lib on merged-usr) owned by that package in our index. The coverage figure is printed."""
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import vxtest


def read_env(var):
    path = os.environ.get(var)
    env = {}
    if path and os.path.exists(path):
        for line in open(path):
            k, _, v = line.strip().partition("=")
            if k:
                env[k] = v
    return env


IMAGES = read_env("VEXXY_FIXTURE_ENV")
SHARED = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                       "..", "..", "..", "shared"))
SCHEMAS = os.path.join(SHARED, "schemas")

try:
    import jsonschema
except ImportError:  # python3-jsonschema (scripts/install-deps.sh); the check is skipped
    jsonschema = None


def cyclonedx_errors(doc):
    """Validation errors of doc against the CycloneDX 1.6 schema of ../shared/schemas (its
    sibling spdx/jsf schemas served locally: nothing is fetched)."""
    with open(os.path.join(SCHEMAS, "bom-1.6.schema.json")) as f:
        schema = json.load(f)
    store = {}
    for name in os.listdir(SCHEMAS):
        if not name.endswith(".json"):
            continue
        try:
            with open(os.path.join(SCHEMAS, name)) as f:
                d = json.load(f)
        except ValueError:
            continue
        if isinstance(d, dict) and "$id" in d:
            store[d["$id"]] = d
        store["http://cyclonedx.org/schema/" + name] = d
    resolver = jsonschema.RefResolver.from_schema(schema, store=store)
    v = jsonschema.Draft7Validator(schema, resolver=resolver,
                                   format_checker=jsonschema.FormatChecker())
    return ["%s at %s" % (e.message[:200], "/".join(map(str, e.path)))
            for e in v.iter_errors(doc)]


def canon(root, path, hops=0):
    """path resolved inside root like a chroot would, last component kept as is."""
    parts = [p for p in path.split("/") if p and p != "."]
    out = []
    for i, p in enumerate(parts):
        if p == "..":
            if out:
                out.pop()
            continue
        cand = out + [p]
        full = os.path.join(root, *cand)
        if i < len(parts) - 1 and os.path.islink(full) and hops < 40:
            t = os.readlink(full)
            base = [] if t.startswith("/") else out
            resolved = canon(root, "/" + "/".join(base + [t.lstrip("/")]) + "/x", hops + 1)
            out = [q for q in resolved.split("/")[:-1] if q]
        else:
            out = cand
    return "/" + "/".join(out)


class InventoryTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-inventory-")
        cls.cache = os.path.join(cls.tmp, "cache")
        cls.roots = {}

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def rootfs(self, key):
        if key not in self.roots:
            d = os.path.join(self.tmp, key.lower())
            r = vxtest.run_vexxy(["image", "unpack", "oci:" + IMAGES[key], "--dest", d,
                                  "--cache-dir", self.cache], timeout=300)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.roots[key] = d
        return self.roots[key]

    def inventory(self, d):
        t0 = time.monotonic()
        r = vxtest.run_vexxy(["inventory", d, "--json"], timeout=300)
        dt = time.monotonic() - t0
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout), dt

    def dpkg_packages(self, d):
        r = subprocess.run(["dpkg-query", "--admindir=" + os.path.join(d, "var/lib/dpkg"), "-W",
                            "-f", "${db:Status-Want} ${db:Status-Status} ${Package} ${Version}"
                            " ${Architecture}\n"],
                           capture_output=True, text=True, check=True)
        keep = {"installed", "half-configured", "unpacked", "triggers-awaited",
                "triggers-pending"}
        out = set()
        for line in r.stdout.splitlines():
            want, st, name, ver, arch = line.split(" ")
            if st in keep and want not in ("deinstall", "purge"):
                out.add((name, ver, arch))
        return out

    def check_image(self, key):
        d = self.rootfs(key)
        doc, dt = self.inventory(d)
        debs = [p for p in doc["packages"] if p["type"] == "deb"]
        ours = {(p["name"], p["version"], p.get("arch")) for p in debs}
        theirs = self.dpkg_packages(d)
        self.assertEqual(ours, theirs)
        self.assertEqual(len(debs), len(theirs))
        for p in debs:
            self.assertTrue(urllib.parse.unquote(p["purl"]).startswith(
                "pkg:deb/debian/" + p["name"] + "@"), p["purl"])
        owned = {}
        for p in debs:
            key_ = p["name"] + (":" + p["arch"] if p.get("arch") else "")
            owned[key_] = set(p["files"])
        info = os.path.join(d, "var/lib/dpkg/info")
        # dpkg-divert: (contested path) -> (divert-to, diverting package)
        diversions = {}
        dv = os.path.join(d, "var/lib/dpkg/diversions")
        if os.path.exists(dv):
            with open(dv, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().split("\n")
            for i in range(0, len(lines) - 2, 3):
                diversions[lines[i]] = (lines[i + 1], lines[i + 2])
        total = covered = 0
        missing = []
        for p in debs:
            lst = os.path.join(info, "%s:%s.list" % (p["name"], p.get("arch")))
            if not os.path.exists(lst):
                lst = os.path.join(info, p["name"] + ".list")
            if not os.path.exists(lst):
                continue
            mine = owned[p["name"] + (":" + p["arch"] if p.get("arch") else "")]
            with open(lst, encoding="utf-8", errors="surrogateescape") as f:
                lines = f.read().split("\n")
            for line in lines:
                path = line.rstrip("\n")
                if not path or path == "/.":
                    continue
                if path in diversions and diversions[path][1] != p["name"]:
                    path = diversions[path][0]
                c = canon(d, path)
                if not (c.startswith("/usr/") or c.startswith("/etc/")):
                    continue
                try:
                    st = os.lstat(d + c)
                except OSError:
                    continue
                if not stat.S_ISREG(st.st_mode):
                    continue
                total += 1
                if c in mine:
                    covered += 1
                else:
                    missing.append((p["name"], c))
        print("%s: %d packages (dpkg-query %d), dpkg-owned regular files under /usr and /etc: "
              "%d, owned in our index: %d (%.2f%%), inventory %.3f s"
              % (key, len(debs), len(theirs), total, covered,
                 100.0 * covered / total if total else 100.0, dt))
        self.assertGreater(total, 0)
        self.assertEqual(missing, [])
        self.assertEqual(doc["unmapped"], [p["purl"] for p in debs if p["n_mapped"] == 0])
        return d

    @unittest.skipUnless("VEXXY_FIXTURE_DEMO" in IMAGES, "no demo image fixture")
    def test_demo(self):
        self.check_image("VEXXY_FIXTURE_DEMO")

    @unittest.skipUnless("VEXXY_FIXTURE_TINY" in IMAGES, "no tiny image fixture")
    def test_tiny(self):
        self.check_image("VEXXY_FIXTURE_TINY")

    @unittest.skipUnless("VEXXY_FIXTURE_DEMO" in IMAGES, "no demo image fixture")
    def test_merged_usr_spellings(self):
        d = self.rootfs("VEXXY_FIXTURE_DEMO")
        doc, _ = self.inventory(d)
        libc = [p for p in doc["packages"] if p["name"] == "libc6"]
        self.assertEqual(len(libc), 1)
        # dpkg lists /lib/x86_64-linux-gnu/... (or /usr/lib/...); the index has /usr/lib only
        self.assertFalse([f for f in libc[0]["files"] if f.startswith("/lib/")])
        self.assertTrue([f for f in libc[0]["files"] if f.startswith("/usr/lib/")])

    @unittest.skipUnless("VEXXY_FIXTURE_TINY_OCI_ARCHIVE" in IMAGES, "no tiny archive fixture")
    def test_image_source_and_sbom(self):
        sbom = os.path.join(self.tmp, "sbom.json")
        env = {"TMPDIR": self.tmp}
        r = vxtest.run_vexxy(["inventory", "oci-archive:" + IMAGES["VEXXY_FIXTURE_TINY_OCI_ARCHIVE"],
                              "--cache-dir", self.cache, "--no-files", "--json", "--sbom", sbom],
                             env=env, timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["packages"])
        self.assertNotIn("files", doc["packages"][0])
        # the temporary rootfs is gone
        self.assertFalse([n for n in os.listdir(self.tmp) if n.startswith("vexxy-inventory-")])
        with open(sbom) as f:
            bom = json.load(f)
        self.assertEqual(bom["specVersion"], "1.6")
        self.assertEqual(bom["metadata"]["component"]["type"], "container")
        self.assertEqual(len(bom["components"]), len(doc["packages"]))
        refs = [c["bom-ref"] for c in bom["components"]]
        self.assertEqual(len(refs), len(set(refs)))

    @unittest.skipUnless("VEXXY_FIXTURE_DEMO" in IMAGES, "no demo image fixture")
    def test_sbom_schema(self):
        if jsonschema is None or not os.path.exists(os.path.join(SCHEMAS, "bom-1.6.schema.json")):
            self.skipTest("python3-jsonschema or ../shared/schemas absent")
        import warnings
        warnings.simplefilter("ignore", DeprecationWarning)  # RefResolver, still the offline way
        d = self.rootfs("VEXXY_FIXTURE_DEMO")
        sbom = os.path.join(self.tmp, "demo-sbom.json")
        r = vxtest.run_vexxy(["inventory", d, "--sbom", sbom, "--json", "--no-files"],
                             timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        inv = json.loads(r.stdout)
        with open(sbom) as f:
            bom = json.load(f)
        self.assertEqual(cyclonedx_errors(bom), [])
        self.assertEqual(sorted(c["purl"] for c in bom["components"]),
                         sorted(p["purl"] for p in inv["packages"]))
        # every component that maps files carries them as evidence (capped at 1000 each)
        by_purl = {p["purl"]: p for p in inv["packages"]}
        for c in bom["components"]:
            if by_purl[c["purl"]]["n_mapped"]:
                self.assertTrue(c["evidence"]["occurrences"], c["purl"])

    def test_hostile_names_not_sent_to_the_terminal(self):
        d = os.path.join(self.tmp, "evil")
        pkg = os.path.join(d, "usr/lib/node_modules/evil")
        os.makedirs(pkg)
        with open(os.path.join(pkg, "package.json"), "w") as f:
            f.write('{"name":"e\\u001b[2Jvil","version":"1.0.0\\u0007"}')
        r = vxtest.run_vexxy(["inventory", d])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("e?[2Jvil", r.stdout)
        self.assertNotIn("\x1b", r.stdout)
        self.assertNotIn("\x07", r.stdout)
        # the JSON keeps the name as it is (escaped by JSON itself)
        r = vxtest.run_vexxy(["inventory", d, "--json"])
        self.assertEqual(json.loads(r.stdout)["packages"][0]["name"], "e\x1b[2Jvil")

    @unittest.skipUnless("VEXXY_FIXTURE_DEMO" in IMAGES, "no demo image fixture")
    def test_findings_smoke(self):
        report = os.path.join(SHARED, "samples/trivy/defectdojo-trivy-all_statuses-debian10.json")
        if not os.path.exists(report):
            self.skipTest("../shared/samples absent")
        d = self.rootfs("VEXXY_FIXTURE_DEMO")
        r = vxtest.run_vexxy(["findings", report, "--inventory", d, "--json"], timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)
        doc = json.loads(r.stdout)
        self.assertTrue(doc["findings"])
        # a Debian 10 report against a Debian 12 image: bound or not, each says which
        for f in doc["findings"]:
            self.assertTrue("bound" in f or "unbound_reason" in f, f)
        r = vxtest.run_vexxy(["findings", report, "--inventory", d], timeout=300)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_usage(self):
        r = vxtest.run_vexxy(["inventory"])
        self.assertEqual(r.returncode, 2)
        r = vxtest.run_vexxy(["inventory", "--help"])
        self.assertEqual(r.returncode, 0)
        r = vxtest.run_vexxy(["inventory", "/nonexistent-dir-for-vexxy", "--bogus"])
        self.assertEqual(r.returncode, 2)


if __name__ == "__main__":
    vxtest.main()

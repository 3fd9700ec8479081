#!/usr/bin/env python3
"""The API end to end on the demo image: `vexxy serve` (SQLite, one worker) gets the demo
image from the local registry by reference + digest with the README's report inline and
config {analysis_duration: 8, ports: [80]}; the job is polled to `complete`, then:
 - results has summary, vex_document (OpenVEX), reachability_results, execution_profile,
   coverage; nginx's CVEs are affected, coreutils' not_affected /
   vulnerable_code_not_in_execute_path, libxml2 (not in the image) component_not_present;
 - ?format=cyclonedx|csaf serve those documents (and they validate against ../shared/schemas
   when it and python3-jsonschema are there);
 - /api/v1/analysis/{id}/evidence lists the documents;
 - the job's callback_url gets the webhook (event job.complete) carrying the same summary.
Needs root and the fixtures "images" and "registry"; skips (77) otherwise.
"""
import json
import os
import sys
import threading
import time
import unittest

import vxdemo
import vxtest
from test_webhook import Receiver


class ApiEndToEndTest(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        os.chmod(cls.tmp, 0o711)  # the sandbox's user namespace walks down to the rootfs
        cls.srv = cls.start_server(args=["--no-auth", "--workers", "1",
                                         "--insecure-registries", "127.0.0.1"])

    def test_demo_over_the_api(self):
        repo = vxdemo.push_demo()
        digest = vxdemo.demo_digest()
        absent = {"VulnerabilityID": "CVE-2099-0999", "PkgName": "libxml2",
                  "InstalledVersion": "2.9.14+dfsg-1.3", "Severity": "HIGH"}
        with open(vxdemo.demo_report(self.tmp, vxdemo.inventory(), [absent])) as f:
            findings = json.load(f)
        n_findings = len(findings["Results"][0]["Vulnerabilities"])
        rx = Receiver(0)
        threading.Thread(target=rx.serve_forever, daemon=True).start()
        self.addCleanup(rx.server_close)
        self.addCleanup(rx.shutdown)
        r = self.srv.submit(image_ref="%s:latest" % repo, image_digest=digest,
                            findings=findings,
                            callback_url="http://127.0.0.1:%d/hook" % rx.server_address[1],
                            config={"analysis_duration": 8, "ports": [80]})
        self.assertEqual(r.status, 202, r.body)
        job = r.json["job_id"]
        seen = set()

        def done(s):
            seen.add(s["status"])
            return s["status"] in vxtest.TERMINAL

        st = self.srv.wait_status(job, done, 50)
        self.assertEqual(st["status"], "complete", (st, self.srv.log()[-3000:]))

        res = self.srv.request("GET", "/api/v1/analysis/%s/results" % job)
        self.assertEqual(res.status, 200, res.body)
        body = res.json
        for key in ("summary", "vex_document", "reachability_results", "execution_profile",
                    "coverage"):
            self.assertIsNotNone(body.get(key), key)
        self.assertEqual(body["summary"]["total_cves_analyzed"], n_findings)
        self.assertEqual(body["vex_document"]["@context"], "https://openvex.dev/ns/v0.2.0")
        got = {(v["package"], v["cve"]): (v["status"], v["justification"])
               for v in body["reachability_results"]}
        self.assertEqual(got[("libxml2", "CVE-2099-0999")],
                         ("not_affected", "component_not_present"))
        self.assertEqual(got[("nginx", "CVE-2009-4487")][0], "affected")
        self.assertEqual(got[("coreutils", "CVE-2016-2781")],
                         ("not_affected", "vulnerable_code_not_in_execute_path"))
        print("states seen: %s; summary: %s" % (sorted(seen), json.dumps(body["summary"])))
        # the webhook: sent once the job is complete, with the same summary
        deadline = time.time() + 20
        while time.time() < deadline:
            with rx.lock:
                if rx.got:
                    break
            time.sleep(0.05)
        with rx.lock:
            self.assertEqual(len(rx.got), 1, rx.got)
            headers, raw, _ = rx.got[0]
        hook = json.loads(raw)
        self.assertEqual(headers.get("X-Vexxy-Event"), "job.complete")
        self.assertTrue(headers.get("X-Vexxy-Signature", "").startswith("sha256="))
        self.assertEqual(hook["job_id"], job)
        self.assertEqual(hook["summary"], body["summary"])

        docs = {"openvex": body["vex_document"]}
        for fmt, key in (("cyclonedx", "bomFormat"), ("csaf", "document"),
                         ("openvex", "statements")):
            d = self.srv.request("GET", "/api/v1/analysis/%s/results?format=%s" % (job, fmt))
            self.assertEqual(d.status, 200, (fmt, d.body[:400]))
            self.assertIn(key, d.json)
            docs[fmt] = d.json
        # the SBOMs: the image's packages, and those whose files ran
        for fmt in ("sbom", "sbom-in-use"):
            d = self.srv.request("GET", "/api/v1/analysis/%s/results?format=%s" % (job, fmt))
            self.assertEqual(d.status, 200, (fmt, d.body[:400]))
            docs[fmt] = d.json
        all_pkgs = {c["name"] for c in docs["sbom"]["components"]}
        used = {c["name"]: [o["location"] for o in c.get("evidence", {}).get("occurrences", [])]
                for c in docs["sbom-in-use"]["components"]}
        print("in-use SBOM: %d of %d packages: %s" % (len(used), len(all_pkgs), sorted(used)))
        self.assertTrue(set(used) <= all_pkgs)
        for p in ("nginx", "libc6", "zlib1g"):  # nginx-light: a metapackage in bookworm
            self.assertIn(p, used)
            self.assertTrue(used[p], p)  # the files that ran, as occurrences
        for p in ("curl", "python3.11-minimal", "coreutils"):
            self.assertNotIn(p, used)
        self.assertIn("/usr/sbin/nginx", used["nginx"])
        self.assertEqual(docs["openvex"]["@id"], body["vex_document"]["@id"])
        self.assertEqual(len(docs["cyclonedx"]["vulnerabilities"]), len(got))
        if vxdemo.have_schemas():
            for fmt, doc in docs.items():
                self.assertEqual(vxdemo.validate(doc, fmt), [], fmt)
        else:
            print("schema validation skipped: no ../shared/schemas or python3-jsonschema")

        ev = self.srv.request("GET", "/api/v1/analysis/%s/evidence" % job)
        self.assertEqual(ev.status, 200, ev.body)
        listing = json.dumps(ev.json)
        for t in ("openvex", "cyclonedx", "csaf", "evidence", "profile", "findings"):
            self.assertIn('"%s"' % t, listing)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("skipped: the sandbox and the tracer need root")
        sys.exit(77)
    if not vxdemo.IMAGES.get("VEXXY_FIXTURE_DEMO") or not vxdemo.REGISTRY:
        print("skipped: no demo image/registry fixtures (tests/fixtures)")
        sys.exit(77)
    unittest.main(verbosity=2)

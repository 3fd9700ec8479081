#!/usr/bin/python3
"""Authentication, tenancy and quotas end to end, with organizations and keys made by
`vexxy admin` on the same store the server uses.

- no token / bad token -> 401; an API key from `vexxy admin apikey create` works; after
  `vexxy admin apikey revoke` it is refused (the server runs with --auth-cache-ms 0)
- JWT HS256 from `vexxy admin token` works; wrong secret, expired, wrong audience or
  issuer -> 401
- organization B gets 404 for organization A's job (status, results, cancel, evidence)
- `vexxy admin quota set --jobs-per-month 2` -> the third submit is 429 with usage
- `vexxy admin` itself: org/apikey/quota listings, errors and exit codes

Runs on SQLite, or on PostgreSQL with VEXXY_TEST_BACKEND=postgres (see vxtest.py).
"""
import json
import os
import re
import sys
import uuid

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import vxtest  # noqa: E402
from vxtest import admin  # noqa: E402

SECRET = "integration-secret-" + uuid.uuid4().hex
ISSUER = "https://issuer.vexxy.test"
AUDIENCE = "vexxy-integration"
TOKEN_RE = re.compile(r"^vx_[0-9a-f]{8}_[A-Za-z0-9_-]{43}$")


class Auth(vxtest.ServerTestCase):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        db = cls.db.url
        admin(db, "org", "create", "Org A", "--id", "org-a", "--tier", "pro")
        admin(db, "org", "create", "Org B", "--id", "org-b")
        admin(db, "org", "create", "Org Q", "--id", "org-q")
        cls.key_a = admin(db, "apikey", "create", "--org", "org-a", "--name", "ci-a").stdout.strip()
        cls.key_b = admin(db, "apikey", "create", "--org", "Org B").stdout.strip()
        cls.s = cls.start_server(args=["--workers", "0", "--auth-cache-ms", "0",
                                       "--jwt-secret", SECRET, "--jwt-issuer", ISSUER,
                                       "--jwt-audience", AUDIENCE])

    def jwt(self, org="org-a", secret=SECRET, ttl=None, issuer=ISSUER, audience=AUDIENCE,
            extra=()):
        args = ["token", "--org", org, "--secret", secret]
        if ttl is not None:
            args += ["--ttl", str(ttl)]
        if issuer:
            args += ["--issuer", issuer]
        if audience:
            args += ["--audience", audience]
        return admin(self.db.url, *(args + list(extra))).stdout.strip()

    # ---- 401 -------------------------------------------------------------------------

    def test_health_needs_no_token(self):
        self.assertEqual(self.s.request("GET", "/health").status, 200)

    def test_missing_and_bad_tokens(self):
        for hdrs in ({}, {"Authorization": "Bearer"}, {"Authorization": "Bearer "},
                     {"Authorization": "Bearer garbage"},
                     {"Authorization": "Basic dXNlcjpwYXNz"},
                     {"Authorization": "Bearer vx_00000000_" + "A" * 43},
                     {"Authorization": "Bearer " + self.key_a + "x"},
                     {"Authorization": "Bearer a.b.c"},
                     {"Authorization": "Bearer " + "x" * 10000}):
            for method, path in (("GET", "/api/v1/analysis"),
                                 ("POST", "/api/v1/analysis/submit"),
                                 ("GET", "/api/v1/analysis/quota")):
                r = self.s.request(method, path, body={} if method == "POST" else None,
                                   headers=hdrs)
                self.assertEqual(r.status, 401, (hdrs, path, r))
                self.assertEqual(r.error().get("code"), "unauthorized")

    # ---- API keys --------------------------------------------------------------------

    def test_apikey_works_then_revoked(self):
        self.assertRegex(self.key_a, TOKEN_RE)
        r = self.s.submit(token=self.key_a)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.s.status(r.json["job_id"], token=self.key_a).status, 200)

        key = admin(self.db.url, "apikey", "create", "--org", "org-a", "--name",
                    "short-lived").stdout.strip()
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=key).status, 200)
        listed = json.loads(admin(self.db.url, "apikey", "list", "--org", "org-a",
                                  "--json").stdout)
        mine = [k for k in listed if key.startswith(k["prefix"])]
        self.assertEqual(len(mine), 1, listed)
        self.assertFalse(mine[0]["revoked"])
        self.assertNotIn(key, json.dumps(listed), "a listing never shows the secret")
        admin(self.db.url, "apikey", "revoke", mine[0]["prefix"])
        r = self.s.request("GET", "/api/v1/analysis", token=key)
        self.assertEqual(r.status, 401, r)
        listed = json.loads(admin(self.db.url, "apikey", "list", "--json").stdout)
        self.assertTrue([k for k in listed if k["id"] == mine[0]["id"]][0]["revoked"])
        # the other key of the organization still works
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=self.key_a).status, 200)

    def test_revoke_by_id(self):
        out = json.loads(admin(self.db.url, "apikey", "create", "--org", "org-b",
                               "--json").stdout)
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=out["token"]).status,
                         200)
        admin(self.db.url, "apikey", "revoke", out["id"])
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=out["token"]).status,
                         401)

    # ---- JWT -------------------------------------------------------------------------

    def test_jwt_hs256(self):
        tok = self.jwt(extra=["--sub", "ci@example.com", "--tier", "pro"])
        self.assertEqual(tok.count("."), 2)
        r = self.s.submit(token=tok)
        self.assertEqual(r.status, 202, r)
        # the JWT's organization is org-a: the job is visible with org-a's API key
        self.assertEqual(self.s.status(r.json["job_id"], token=self.key_a).status, 200)
        # by name: the admin resolves "Org A" to its id
        by_name = self.jwt(org="Org A")
        self.assertEqual(self.s.status(r.json["job_id"], token=by_name).status, 200)

    def test_jwt_rejected(self):
        bad = {
            "wrong secret": self.jwt(secret="not-the-secret"),
            "expired": self.jwt(ttl=-3600),
            "wrong audience": self.jwt(audience="someone-else"),
            "no audience": self.jwt(audience=None),
            "wrong issuer": self.jwt(issuer="https://evil.example"),
            "no issuer": self.jwt(issuer=None),
        }
        for why, tok in bad.items():
            r = self.s.request("GET", "/api/v1/analysis", token=tok)
            self.assertEqual(r.status, 401, (why, r))
        # a valid token with one byte of its signature changed
        good = self.jwt()
        head, payload, sig = good.split(".")
        flipped = head + "." + payload + "." + ("A" if sig[0] != "A" else "B") + sig[1:]
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=flipped).status, 401)
        self.assertEqual(self.s.request("GET", "/api/v1/analysis", token=good).status, 200)

    def test_jwt_new_org_appears_on_first_use(self):
        org = "jwt-org-" + uuid.uuid4().hex[:8]
        tok = self.jwt(org=org)
        r = self.s.submit(token=tok)
        self.assertEqual(r.status, 202, r)
        orgs = json.loads(admin(self.db.url, "org", "list", "--json").stdout)
        self.assertIn(org, [o["id"] for o in orgs])

    # ---- tenancy ---------------------------------------------------------------------

    def test_other_org_gets_404(self):
        r = self.s.submit(token=self.key_a, image_ref="tenant/a:1")
        self.assertEqual(r.status, 202, r)
        job = r.json["job_id"]
        for method, path in (("GET", "/api/v1/analysis/%s/status"),
                             ("GET", "/api/v1/analysis/%s/results"),
                             ("GET", "/api/v1/analysis/%s/evidence"),
                             ("DELETE", "/api/v1/analysis/%s")):
            rb = self.s.request(method, path % job, token=self.key_b)
            self.assertEqual(rb.status, 404, (method, path, rb))
            self.assertEqual(rb.error().get("code"), "not_found")
        lst = self.s.request("GET", "/api/v1/analysis?limit=100", token=self.key_b)
        self.assertNotIn(job, [j["job_id"] for j in lst.json["jobs"]])
        # B's cancel did nothing to A's job
        st = self.s.status(job, token=self.key_a)
        self.assertEqual(st.json["status"], "queued", st)
        self.assertFalse(st.json.get("cancel_requested"))
        jwt_b = self.jwt(org="org-b")
        self.assertEqual(self.s.status(job, token=jwt_b).status, 404)

    def test_idempotency_keys_are_per_org(self):
        key = "shared-" + uuid.uuid4().hex
        ra = self.s.submit(token=self.key_a, headers={"Idempotency-Key": key})
        rb = self.s.submit(token=self.key_b, headers={"Idempotency-Key": key})
        self.assertEqual(ra.status, 202, ra)
        self.assertEqual(rb.status, 202, rb)
        self.assertNotEqual(ra.json["job_id"], rb.json["job_id"])

    # ---- quota -----------------------------------------------------------------------

    def test_quota_429(self):
        admin(self.db.url, "quota", "set", "--org", "org-q", "--jobs-per-month", "2")
        key = admin(self.db.url, "apikey", "create", "--org", "org-q").stdout.strip()
        idem = {"Idempotency-Key": "quota-" + uuid.uuid4().hex}
        for i in range(2):
            r = self.s.submit(token=key, image_ref="quota/app:%d" % i,
                              headers=idem if i == 0 else None)
            self.assertEqual(r.status, 202, r)
        r = self.s.submit(token=key, image_ref="quota/app:3")
        self.assertEqual(r.status, 429, r)
        self.assertEqual(r.error().get("code"), "quota_exceeded")
        usage = r.json.get("usage")
        self.assertEqual((usage["limit"], usage["used"]), (2, 2), r)
        self.assertRegex(usage["month"], r"^\d{4}-\d\d$")
        self.assertTrue(r.headers.get("Retry-After"))
        q = self.s.request("GET", "/api/v1/analysis/quota", token=key)
        self.assertEqual(q.status, 200, q)
        self.assertEqual((q.json["limit"], q.json["used"], q.json["remaining"]), (2, 2, 0))
        shown = json.loads(admin(self.db.url, "quota", "show", "--org", "Org Q",
                                 "--json").stdout)
        self.assertEqual((shown["jobs_per_month"], shown["used"]), (2, 2))
        # an idempotent replay of an accepted job is not a new job: still fine at the limit
        r = self.s.submit(token=key, image_ref="quota/app:0", headers=idem)
        self.assertEqual(r.status, 200, r)
        # raising the limit lets the next one through
        admin(self.db.url, "quota", "set", "--org", "org-q", "--jobs-per-month", "unlimited")
        r = self.s.submit(token=key, image_ref="quota/app:4")
        self.assertEqual(r.status, 202, r)
        # other organizations are not affected by org-q's quota
        self.assertEqual(self.s.submit(token=self.key_b).status, 202)


class AdminCli(vxtest.ServerTestCase):
    """`vexxy admin` on its own (no server)."""

    def test_org_create_list_and_errors(self):
        db = self.db.url
        r = admin(db, "org", "create", "Acme", "--tier", "enterprise", "--jobs-per-month", "50")
        org_id = r.stdout.strip()
        self.assertRegex(org_id, r"^[0-9a-f-]{36}$")
        orgs = json.loads(admin(db, "org", "list", "--json").stdout)
        acme = [o for o in orgs if o["id"] == org_id][0]
        self.assertEqual((acme["name"], acme["tier"], acme["jobs_per_month"]),
                         ("Acme", "enterprise", 50))
        table = admin(db, "org", "list").stdout
        self.assertIn("Acme", table)
        self.assertIn("ID", table.splitlines()[0])
        dup = admin(db, "org", "create", "Acme", check=False)
        self.assertEqual(dup.returncode, 2, dup)
        self.assertIn("vexxy admin:", dup.stderr)
        missing = admin(db, "apikey", "create", "--org", "no-such-org", check=False)
        self.assertEqual(missing.returncode, 2)
        self.assertIn("no-such-org", missing.stderr)
        r = admin(db, "quota", "show", "--org", "Acme", "--month", "2020-01", "--json")
        self.assertEqual(json.loads(r.stdout)["used"], 0)
        self.assertEqual(admin(db, "quota", "show", "--org", "Acme", "--month", "2020-13",
                               check=False).returncode, 2)
        self.assertEqual(admin(db, "apikey", "revoke", "vx_nothere", check=False).returncode, 2)

    def test_usage_errors(self):
        db = self.db.url
        for args in ([], ["org"], ["org", "explode"], ["frobnicate"], ["org", "create"],
                     ["org", "list", "--bogus"], ["quota", "set", "--org", "x"],
                     ["quota", "set", "--org", "x", "--jobs-per-month", "-5"],
                     ["token", "--org", "x"], ["token", "--org", "x", "--secret", "s",
                                               "--ttl", "soon"],
                     ["apikey", "create"], ["org", "list", "--org", "x"]):
            r = vxtest.run_vexxy(["admin", "--db", db] + args)
            self.assertEqual(r.returncode, 2, (args, r.stdout, r.stderr))
            self.assertIn("usage:", r.stderr, args)
        r = vxtest.run_vexxy(["admin", "--help"])
        self.assertEqual(r.returncode, 0)
        self.assertIn("apikey create", r.stdout)
        r = vxtest.run_vexxy(["admin", "org", "create", "--help"])
        self.assertEqual(r.returncode, 0)

    def test_default_db_from_env(self):
        data = os.path.join(self.tmp, "envdata")
        r = vxtest.run_vexxy(["admin", "org", "create", "EnvOrg"],
                             env={"VEXXY_DATA_DIR": data})
        self.assertEqual(r.returncode, 0, r.stderr)
        if vxtest.BACKEND == "sqlite":
            self.assertTrue(os.path.exists(os.path.join(data, "vexxy.db")))
        r = vxtest.run_vexxy(["admin", "org", "list", "--json"], env={"VEXXY_DB": self.db.url})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("EnvOrg", r.stdout)  # VEXXY_DB wins over the default location

    def test_token_without_store(self):
        # no store at the default location: the org is taken literally, nothing is created
        data = os.path.join(self.tmp, "nodata")
        r = vxtest.run_vexxy(["admin", "token", "--org", "lit-org", "--secret", "s"],
                             env={"VEXXY_DATA_DIR": data})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip().count("."), 2)
        self.assertFalse(os.path.exists(data))


if __name__ == "__main__":
    vxtest.main()

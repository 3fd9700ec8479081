#!/usr/bin/python3
"""`vexxy image pull|inspect|unpack` against the project's own test images
(tests/fixtures): every local transport, digest verification, platform choice, the local
docker-registry with and without credentials, and an unpack compared with GNU tar plus the
OCI whiteout rules."""
import base64
import hashlib
import json
import os
import shutil
import stat
import subprocess
import tempfile
import unittest

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
REGISTRY = read_env("VEXXY_REGISTRY_ENV")


def digests():
    with open(IMAGES["VEXXY_FIXTURE_DIGESTS"]) as f:
        return json.load(f)


def tree(root):
    """path -> (type, mode, uid, gid, link target or sha256) for everything under root."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root)
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out[rel] = ("l", 0, st.st_uid, st.st_gid, os.readlink(p))
            elif stat.S_ISDIR(st.st_mode):
                out[rel] = ("d", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, None)
            else:
                with open(p, "rb") as f:
                    h = hashlib.sha256(f.read()).hexdigest()
                out[rel] = ("f", stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, h)
    return out


class Base(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vx-image-")
        self.cache = os.path.join(self.tmp, "cache")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def image(self, verb, src, *args, env=None):
        return vxtest.run_vexxy(["image", verb, src, "--cache-dir", self.cache, "--json"]
                                + list(args), env=env, timeout=300)

    def pull_ok(self, src, *args, env=None):
        r = self.image("pull", src, *args, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        return json.loads(r.stdout)



@unittest.skipUnless(IMAGES, "no image fixtures (ctest fixture 'images')")
class ImageTest(Base):
    def test_oci_layout(self):
        d = digests()["tiny"]
        j = self.pull_ok("oci:" + IMAGES["VEXXY_FIXTURE_TINY"], "--digest", d["manifest"])
        self.assertEqual(j["manifest_digest"], d["manifest"])
        self.assertEqual(j["config_digest"], d["config"])
        self.assertEqual([l["digest"] for l in j["layers"]], d["layers"])
        self.assertEqual(j["platform"], "linux/amd64")
        self.assertEqual(j["config"]["cmd"], ["/bin/dash"])
        self.assertEqual(j["config"]["exposed_ports"], [8080])

    def test_oci_archive(self):
        d = digests()["tiny"]
        j = self.pull_ok("oci-archive:" + IMAGES["VEXXY_FIXTURE_TINY_OCI_ARCHIVE"])
        self.assertEqual(j["manifest_digest"], d["manifest"])

    def test_docker_archive(self):
        d = digests()
        j = self.pull_ok("docker-archive:" + IMAGES["VEXXY_FIXTURE_TINY_DOCKER_ARCHIVE"],
                         "--digest", d["tiny_docker_archive"]["config"])
        self.assertEqual(j["config_digest"], d["tiny_docker_archive"]["config"])

    def test_digest_mismatch_names_both(self):
        wrong = "sha256:" + "0" * 64
        r = self.image("pull", "oci:" + IMAGES["VEXXY_FIXTURE_TINY"], "--digest", wrong)
        self.assertEqual(r.returncode, 2)
        self.assertIn(wrong, r.stderr)
        self.assertIn(digests()["tiny"]["manifest"], r.stderr)

    def test_platform_choice(self):
        d = digests()["multi"]
        j = self.pull_ok("oci:" + IMAGES["VEXXY_FIXTURE_MULTI"], "--digest", d["index"])
        self.assertEqual(j["index_digest"], d["index"])
        self.assertEqual(j["manifest_digest"], d["linux/amd64"]["manifest"])
        j = self.pull_ok("oci:" + IMAGES["VEXXY_FIXTURE_MULTI"], "--platform", "linux/arm64")
        self.assertEqual(j["manifest_digest"], d["linux/arm64"]["manifest"])
        self.assertEqual(j["config"]["cmd"], ["/bin/arm64-only"])
        r = self.image("pull", "oci:" + IMAGES["VEXXY_FIXTURE_MULTI"], "--platform", "linux/s390x")
        self.assertEqual(r.returncode, 2)
        self.assertIn("linux/arm64", r.stderr)

    def test_corrupted_blob_is_refused(self):
        src = os.path.join(self.tmp, "layout")
        shutil.copytree(IMAGES["VEXXY_FIXTURE_TINY"], src)
        layer = digests()["tiny"]["layers"][0][7:]
        p = os.path.join(src, "blobs", "sha256", layer)
        os.chmod(p, 0o644)
        with open(p, "r+b") as f:
            f.seek(1000)
            f.write(b"\x00corrupt\x00")
        r = self.image("pull", "oci:" + src)
        self.assertEqual(r.returncode, 2)
        self.assertIn(layer, r.stderr)

    def test_unpack_matches_tar_and_whiteouts(self):
        """tiny2 = tiny's layer + a layer with .wh.debian_version and an opaque usr/share/doc:
        our unpack equals GNU tar of layer 1 with the whiteout rules applied by hand, plus
        layer 2's new file."""
        d = digests()["tiny2"]
        dest = os.path.join(self.tmp, "rootfs")
        r = self.image("unpack", "oci:" + IMAGES["VEXXY_FIXTURE_TINY2"], "--dest", dest)
        self.assertEqual(r.returncode, 0, r.stderr)
        ref = os.path.join(self.tmp, "ref")
        os.makedirs(ref)
        blob = os.path.join(IMAGES["VEXXY_FIXTURE_TINY2"], "blobs", "sha256", d["layers"][0][7:])
        subprocess.run(["tar", "-xzf", blob, "-C", ref, "--numeric-owner"], check=True)
        os.unlink(os.path.join(ref, "etc", "debian_version"))
        shutil.rmtree(os.path.join(ref, "usr", "share", "doc"))
        os.makedirs(os.path.join(ref, "usr", "share", "doc"))
        with open(os.path.join(ref, "usr", "share", "doc", "README.vexxy"), "w") as f:
            f.write("layer 2\n")
        os.chmod(os.path.join(ref, "usr", "share", "doc", "README.vexxy"), 0o644)
        ours, theirs = tree(dest), tree(ref)
        # modes of the directories layer 2 re-declared come from layer 2: compare types only
        for k in ("usr", "usr/share", "usr/share/doc", "etc"):
            ours[k] = theirs[k] = ("d", 0, 0, 0, None)
        self.assertEqual(sorted(set(ours) ^ set(theirs)), [])
        diff = {k: (ours[k], theirs[k]) for k in ours if ours[k] != theirs[k]}
        self.assertEqual(diff, {})
        self.assertTrue(os.path.isfile(os.path.join(dest, "bin", "dash")))

    def test_unpack_refuses_non_empty_dest(self):
        dest = os.path.join(self.tmp, "full")
        os.makedirs(dest)
        open(os.path.join(dest, "x"), "w").close()
        r = self.image("unpack", "oci:" + IMAGES["VEXXY_FIXTURE_TINY"], "--dest", dest)
        self.assertEqual(r.returncode, 2)


@unittest.skipUnless(IMAGES and REGISTRY, "no local registry (ctest fixture 'registry')")
class RegistryTest(Base):
    def test_anonymous_pull(self):
        d = digests()["tiny"]
        j = self.pull_ok("docker://%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"],
                         "--insecure-registry", "--digest", d["manifest"])
        self.assertEqual([l["digest"] for l in j["layers"]], d["layers"])

    def test_manifest_list_platform(self):
        d = digests()["multi"]
        j = self.pull_ok("docker://%s/vexxy-test/multi:latest" % REGISTRY["VEXXY_REGISTRY"],
                         "--insecure-registry", "--platform", "linux/arm64")
        self.assertEqual(j["index_digest"], d["index"])
        self.assertEqual(j["manifest_digest"], d["linux/arm64"]["manifest"])

    def test_credentials_from_docker_config(self):
        ref = "docker://%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY_AUTH"]
        r = self.image("pull", ref, "--insecure-registry")
        self.assertEqual(r.returncode, 2)
        self.assertIn("401", r.stderr)
        cfg = os.path.join(self.tmp, "config.json")
        auth = base64.b64encode(("%s:%s" % (REGISTRY["VEXXY_REGISTRY_USER"],
                                            REGISTRY["VEXXY_REGISTRY_PASS"])).encode()).decode()
        with open(cfg, "w") as f:
            json.dump({"auths": {REGISTRY["VEXXY_REGISTRY_AUTH"]: {"auth": auth}}}, f)
        j = self.pull_ok(ref, "--insecure-registry", "--docker-config", cfg)
        self.assertEqual(j["manifest_digest"], digests()["tiny"]["manifest"])

    def docker_config(self, registry, password):
        cfg = os.path.join(self.tmp, "config-%s.json" % registry.replace(":", "_"))
        auth = base64.b64encode(("%s:%s" % (REGISTRY["VEXXY_REGISTRY_USER"],
                                            password)).encode()).decode()
        with open(cfg, "w") as f:
            json.dump({"auths": {registry: {"auth": auth}}}, f)
        return cfg

    def test_bearer_token_registry(self):
        """Token auth (WWW-Authenticate: Bearer realm,service,scope -> token server with Basic
        credentials from config.json -> JWT -> retry): tests/fixtures/token-server.py."""
        reg = REGISTRY.get("VEXXY_REGISTRY_TOKEN")
        if not reg:
            self.skipTest("no token registry in the fixtures")
        ref = "docker://%s/vexxy-test/tiny:latest" % reg
        d = digests()["tiny"]
        # anonymous: the token server hands out a token without access; the registry says 401
        r = self.image("pull", ref, "--insecure-registry")
        self.assertEqual(r.returncode, 2)
        self.assertIn("denied access (401)", r.stderr)
        # wrong password: the token endpoint itself refuses, and the error says so
        r = self.image("pull", ref, "--insecure-registry", "--docker-config",
                       self.docker_config(reg, "wrong"))
        self.assertEqual(r.returncode, 2)
        self.assertIn("token endpoint answered 401", r.stderr)
        j = self.pull_ok(ref, "--insecure-registry", "--digest", d["manifest"],
                         "--docker-config", self.docker_config(reg, REGISTRY["VEXXY_REGISTRY_PASS"]))
        self.assertEqual([l["digest"] for l in j["layers"]], d["layers"])

    def test_digest_mismatch_from_registry(self):
        r = self.image("pull", "docker://%s/vexxy-test/tiny:latest" % REGISTRY["VEXXY_REGISTRY"],
                       "--insecure-registry", "--digest", "sha256:" + "1" * 64)
        self.assertEqual(r.returncode, 2)
        self.assertIn("sha256:" + "1" * 64, r.stderr)

    def test_unknown_repository(self):
        r = self.image("pull", "docker://%s/vexxy-test/nope:latest" % REGISTRY["VEXXY_REGISTRY"],
                       "--insecure-registry")
        self.assertEqual(r.returncode, 2)
        self.assertIn("404", r.stderr)


if __name__ == "__main__":
    vxtest.main()

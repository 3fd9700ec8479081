"""test_unpack_vs_tar.py -- the layer applier (src/image/unpack.c) against GNU tar, and the
hostile-layer corpus.

VsTar: three layers (whiteouts, an opaque dir, symlinks, hardlinks, modes, setuid, mtimes)
are applied by unpack_driver (vx_image_unpack) and, into another directory, by `tar -x` plus
a small Python reimplementation of the OCI whiteout rules; the two trees must have the same
names, types, modes, sizes, content hashes, link targets, hardlink groups and file mtimes
(and owners when running as root). It also times a ~25 MB gzip layer against `tar -xzf`.

Hostile: every case of tests/data/hostile/gen-hostile.py is applied into a fresh sandbox
with a canary sibling directory; the driver must give the expected error (or the documented
neutralisation), and a snapshot (find + lstat + sha256) of the whole sandbox minus the
unpack dir, and of the named host paths, must be unchanged.

Environment: VX_UNPACK_DRIVER (set by ctest); without it, or without GNU tar, exit 77.
Standard library only.
"""
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

sys.dont_write_bytecode = True

DRIVER = os.environ.get("VX_UNPACK_DRIVER")
HERE = os.path.dirname(os.path.abspath(__file__))
GEN = os.path.join(HERE, "..", "data", "hostile", "gen-hostile.py")
IS_ROOT = os.geteuid() == 0
SKIP = 77


def snapshot(top, exclude=None):
    """{relpath: (type, mode, uid, gid, size, mtime, link or sha256)} without following links."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(top):
        if exclude:
            dirnames[:] = [d for d in dirnames if os.path.join(dirpath, d) != exclude]
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            extra = None
            if stat.S_ISLNK(st.st_mode):
                extra = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    extra = hashlib.sha256(f.read()).hexdigest()
            out[os.path.relpath(p, top)] = (stat.S_IFMT(st.st_mode), st.st_mode & 0o7777,
                                            st.st_uid, st.st_gid, st.st_size,
                                            # a dir's mtime moves when dest comes and goes;
                                            # its entries are compared one by one instead
                                            None if stat.S_ISDIR(st.st_mode) else
                                            st.st_mtime_ns, extra)
    return out


def tree_for_compare(top):
    """Like snapshot, minus directory mtimes, plus hardlink groups."""
    out, inodes = {}, {}
    for dirpath, dirnames, filenames in os.walk(top):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, top)
            st = os.lstat(p)
            kind = stat.S_IFMT(st.st_mode)
            rec = {"type": kind, "mode": st.st_mode & 0o7777}
            if IS_ROOT:
                rec["owner"] = (st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                rec["target"] = os.readlink(p)
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    rec["sha256"] = hashlib.sha256(f.read()).hexdigest()
                rec["size"] = st.st_size
                rec["mtime"] = int(st.st_mtime)
                inodes.setdefault(st.st_ino, []).append(rel)
            out[rel] = rec
    for names in inodes.values():
        for n in names:
            out[n]["links"] = sorted(names)
    return out


def ti(name, kind=tarfile.REGTYPE, mode=0o644, link="", uid=0, gid=0, mtime=1600000000):
    t = tarfile.TarInfo(name)
    t.type, t.mode, t.linkname, t.uid, t.gid, t.mtime = kind, mode, link, uid, gid, mtime
    return t


def write_layer(path, members, compress=None):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for t, data in members:
            if data is not None:
                t.size = len(data)
                tf.addfile(t, io.BytesIO(data))
            else:
                tf.addfile(t)
    raw = buf.getvalue()
    if compress == "gzip":
        import gzip
        raw = gzip.compress(raw, mtime=0)
    elif compress == "zstd":
        raw = subprocess.run(["zstd", "-q", "-c"], input=raw, capture_output=True,
                             check=True).stdout
    with open(path, "wb") as f:
        f.write(raw)


def rm_rf(p):
    if os.path.islink(p) or (os.path.lexists(p) and not os.path.isdir(p)):
        os.unlink(p)
    elif os.path.isdir(p):
        shutil.rmtree(p)


def tar_apply(root, layer):
    """GNU tar + the whiteout rules: whiteouts hide lower content, so apply them first."""
    names = subprocess.run(["tar", "-tf", layer], capture_output=True, text=True,
                           check=True).stdout.splitlines()  # tarfile cannot read zstd
    for n in names:
        n = n[2:] if n.startswith("./") else n
        d, base = os.path.split(n.rstrip("/"))
        if base == ".wh..wh..opq":
            target = os.path.join(root, d)
            if os.path.isdir(target):
                for child in os.listdir(target):
                    rm_rf(os.path.join(target, child))
        elif base.startswith(".wh."):
            rm_rf(os.path.join(root, d, base[4:]))
    cmd = ["tar", "-x", "-p", "-f", layer, "-C", root, "--wildcards", "--exclude=.wh.*",
           "--exclude=*/.wh.*"]
    if not IS_ROOT:
        cmd.append("--no-same-owner")
    subprocess.run(cmd, check=True)


def run_driver(dest, layers, args=()):
    cmd = [DRIVER] + list(args)
    if IS_ROOT and "--keep-ownership" not in args:
        cmd.append("--keep-ownership")
    return subprocess.run(cmd + [dest] + list(layers), capture_output=True, text=True)


class VsTar(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="vx-unpack-vs-tar-")

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def layers(self):
        rnd = lambda n, seed: hashlib.sha256(seed.encode()).digest() * (n // 32 + 1)
        l1 = [
            (ti("./", tarfile.DIRTYPE, 0o755), None),
            (ti("etc/", tarfile.DIRTYPE, 0o755), None),
            (ti("etc/passwd", uid=0, gid=0), b"root:x:0:0::/root:/bin/sh\n"),
            (ti("etc/shadow", mode=0o640, gid=42), b"root:*:1::::::\n"),
            (ti("usr/", tarfile.DIRTYPE, 0o755), None),
            (ti("usr/bin/", tarfile.DIRTYPE, 0o755), None),
            (ti("usr/bin/tool", mode=0o755), rnd(100000, "tool")[:100000]),
            (ti("usr/bin/su", mode=0o4755), b"suid"),
            (ti("usr/bin/tool-hard", tarfile.LNKTYPE, link="usr/bin/tool"), None),
            (ti("bin", tarfile.SYMTYPE, 0o777, link="usr/bin"), None),
            (ti("usr/bin/abs", tarfile.SYMTYPE, 0o777, link="/etc/passwd"), None),
            (ti("usr/bin/rel", tarfile.SYMTYPE, 0o777, link="../../etc/passwd"), None),
            (ti("var/lib/app/", tarfile.DIRTYPE, 0o700, uid=1000, gid=1000), None),
            (ti("var/lib/app/data", mode=0o600, uid=1000, gid=1000), b"secret"),
            (ti("gone/", tarfile.DIRTYPE, 0o755), None),
            (ti("gone/deep/file"), b"deep"),
            (ti("etc/remove-me"), b"bye"),
            (ti("opq/", tarfile.DIRTYPE, 0o755), None),
            (ti("opq/lower-a"), b"a"),
            (ti("opq/sub/lower-b"), b"b"),
            (ti("link-to-replace", tarfile.SYMTYPE, 0o777, link="etc/passwd"), None),
        ]
        l2 = [
            (ti("etc/.wh.remove-me"), b""),
            (ti(".wh.gone"), b""),
            (ti("opq/.wh..wh..opq"), b""),
            (ti("opq/upper"), b"u"),
            (ti("opq/sub/upper-b"), b"ub"),
            (ti("etc/passwd", mode=0o600), b"root:x:0:0::/root:/bin/bash\n"),
            (ti("link-to-replace", mode=0o640), b"now a file"),
            (ti("etc/passwd-hard", tarfile.LNKTYPE, link="etc/passwd"), None),
            (ti("usr/bin/tool", mode=0o700), rnd(5000, "tool2")[:5000]),
        ]
        l3 = [
            (ti("gone/", tarfile.DIRTYPE, 0o711), None),
            (ti("gone/again"), b"again"),
            (ti("var/lib/app/", tarfile.DIRTYPE, 0o750, uid=1000, gid=1000), None),
            (ti("usr/bin/abs", tarfile.SYMTYPE, 0o777, link="/usr/bin/tool"), None),
            (ti("usr/bin/.wh.su"), b""),
        ]
        zstd = "zstd" if shutil.which("zstd") else None
        paths = []
        for i, (members, comp) in enumerate([(l1, "gzip"), (l2, zstd), (l3, None)]):
            p = os.path.join(self.tmp, f"layer{i}")
            write_layer(p, members, comp)
            paths.append(p)
        return paths

    def test_same_tree_as_tar(self):
        layers = self.layers()
        ours, ref = os.path.join(self.tmp, "ours"), os.path.join(self.tmp, "ref")
        r = run_driver(ours, layers)
        self.assertEqual(r.returncode, 0, r.stderr)
        os.mkdir(ref)
        for layer in layers:
            tar_apply(ref, layer)
        a, b = tree_for_compare(ours), tree_for_compare(ref)
        self.assertEqual(sorted(a), sorted(b))
        for k in a:
            self.assertEqual(a[k], b[k], k)
        self.assertNotIn("gone/deep", a)
        self.assertIn("opq/upper", a)
        self.assertNotIn("opq/lower-a", a)

    def test_bench_25mb_layer(self):
        members = []
        for i in range(400):
            size = 60000 if i % 10 else 200000
            data = hashlib.sha256(str(i).encode()).digest() * (size // 32)
            members.append((ti(f"d{i % 20}/f{i}", mode=0o644), data))
        layer = os.path.join(self.tmp, "big.tar.gz")
        write_layer(layer, members, "gzip")
        raw = sum(len(d) for _, d in members)
        best = {}
        for rnd in range(3):
            for name in ("ours", "tar"):
                dest = os.path.join(self.tmp, f"{name}{rnd}")
                t0 = time.monotonic()
                if name == "ours":
                    r = run_driver(dest, [layer])
                    self.assertEqual(r.returncode, 0, r.stderr)
                else:
                    os.mkdir(dest)
                    subprocess.run(["tar", "-xzf", layer, "-C", dest], check=True)
                dt = time.monotonic() - t0
                best[name] = min(best.get(name, dt), dt)
                shutil.rmtree(dest)
        print(f"\nbench: {raw / 1e6:.1f} MB in {len(members)} files, gzip layer: "
              f"unpack {best['ours'] * 1000:.0f} ms, tar -xzf {best['tar'] * 1000:.0f} ms, "
              f"ratio {best['ours'] / best['tar']:.2f}", file=sys.stderr)


class Hostile(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="vx-hostile-")
        cls.corpus = os.path.join(cls.tmp, "corpus")
        cls.targets = os.path.join(cls.tmp, "targets")
        os.mkdir(cls.targets)
        with open(os.path.join(cls.targets, "canary"), "w") as f:
            f.write("canary\n")
        cls.tag = os.path.basename(cls.tmp)
        subprocess.run([sys.executable, GEN, cls.corpus, "--target-dir", cls.targets,
                        "--tag", cls.tag], check=True)
        with open(os.path.join(cls.corpus, "cases.json")) as f:
            cls.cases = json.load(f)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_cases(self):
        self.assertGreaterEqual(len(self.cases), 15)
        for c in self.cases:
            with self.subTest(case=c["name"]):
                sandbox = os.path.join(self.tmp, "sb-" + c["name"])
                os.makedirs(os.path.join(sandbox, "canary", "inner"))
                with open(os.path.join(sandbox, "canary", "inner", "file"), "w") as f:
                    f.write("do not touch\n")
                dest = os.path.join(sandbox, "unpack")
                before = snapshot(self.tmp, exclude=dest)
                hosts = {p: os.path.lexists(p) for p in c["absent_host"]}
                self.assertFalse(any(hosts.values()), hosts)
                r = run_driver(dest, [os.path.join(self.corpus, c["file"])], c["args"])
                out = r.stdout + r.stderr
                if c["expect"] == "error":
                    self.assertEqual(r.returncode, 1, out)
                    self.assertIn(f"({c['code']})", out)
                    self.assertIn(c["needle"], out)
                    self.assertFalse(os.path.lexists(dest), "dest not removed after failure")
                else:
                    self.assertEqual(r.returncode, 0, out)
                    if c["needle"]:
                        self.assertIn(c["needle"], out)
                    for p in c["inside"]:
                        self.assertTrue(os.path.lexists(os.path.join(dest, p)), p)
                self.assertEqual(snapshot(self.tmp, exclude=dest), before)
                for p in c["absent_host"]:
                    self.assertFalse(os.path.lexists(p), p)
                shutil.rmtree(sandbox)


if __name__ == "__main__":
    if not DRIVER or not os.path.exists(DRIVER) or not shutil.which("tar"):
        print("skipped: VX_UNPACK_DRIVER or tar missing")
        sys.exit(SKIP)
    unittest.main(verbosity=2)

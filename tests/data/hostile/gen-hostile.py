#!/usr/bin/env python3
"""gen-hostile.py -- writes the hostile-layer corpus (tar / tar+gzip) and cases.json.

    gen-hostile.py OUTDIR [--target-dir DIR] [--tag TAG]

Each case is one layer blob plus its expected outcome for the unpacker (src/image/unpack.c):
"error" with the API code string and a text the message must contain, or "ok" (the
documented neutralisation) with paths that must exist inside the unpack dir. Absolute
targets point into --target-dir (a scratch dir of the test, default /tmp) with --tag in the
names, so a test never touches real system files; host paths that must stay absent are
listed per case. Python standard library only (tarfile, gzip); nothing is written outside
OUTDIR.
"""
import argparse
import gzip
import io
import json
import os
import tarfile

MTIME = 1500000000


def info(name, kind=tarfile.REGTYPE, size=0, link="", mode=0o644):
    ti = tarfile.TarInfo(name)
    ti.type = kind
    ti.size = size
    ti.linkname = link
    ti.mode = mode
    ti.mtime = MTIME
    return ti


def tar_bytes(members, fmt=tarfile.PAX_FORMAT):
    """members: list of (TarInfo, bytes-or-None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=fmt) as tf:
        for ti, data in members:
            if data is not None:
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
            else:
                tf.addfile(ti)
    return buf.getvalue()


def huge_declared():
    """A GNU header declaring 10 GB (base-256 size field) followed by 512 real bytes."""
    ti = info("bomb/huge", size=10 * 1024 ** 3)
    hdr = ti.tobuf(format=tarfile.GNU_FORMAT)
    return hdr + b"A" * 512 + b"\0" * 1024


def huge_sparse():
    """A PAX 1.0 GNU sparse file: realsize 10 GB, one 4 KiB data region at the end."""
    real = 10 * 1024 ** 3
    smap = b"1\n%d\n4096\n" % (real - 4096)
    smap += b"\0" * (-len(smap) % 512)
    body = smap + b"S" * 4096
    ti = info("bomb/GNUSparseFile.0/sparse", size=len(body))
    ti.pax_headers = {"GNU.sparse.major": "1", "GNU.sparse.minor": "0",
                      "GNU.sparse.name": "bomb/sparse", "GNU.sparse.realsize": str(real)}
    return tar_bytes([(ti, body)])


def corrupt_header():
    data = bytearray(tar_bytes([(info("ok"), b"fine")], fmt=tarfile.USTAR_FORMAT))
    data[148:156] = b"0000000\0"  # wrong checksum
    data[0:2] = b"\xff\xfe"
    return bytes(data)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("outdir")
    ap.add_argument("--target-dir", default="/tmp")
    ap.add_argument("--tag", default="vx")
    a = ap.parse_args()
    tdir, tag = os.path.abspath(a.target_dir), a.tag
    os.makedirs(a.outdir, exist_ok=True)
    cases = []

    def case(name, blob, expect, code=None, needle=None, args=(), inside=(), absent=(),
             gz=False):
        fn = name + (".tar.gz" if gz else ".tar")
        if gz:
            blob = gzip.compress(blob, mtime=0)
        with open(os.path.join(a.outdir, fn), "wb") as f:
            f.write(blob)
        cases.append({"name": name, "file": fn, "expect": expect, "code": code,
                      "needle": needle, "args": list(args), "inside": list(inside),
                      "absent_host": list(absent)})

    evil = f"evil-{tag}"
    case("traversal", tar_bytes([(info(f"../../{evil}"), b"x")]), "error",
         "unprocessable_entity", f"../../{evil}", absent=[os.path.join(tdir, evil)])
    case("absolute", tar_bytes([(info(f"{tdir}/{evil}-abs"), b"x")]), "error",
         "unprocessable_entity", "absolute", absent=[f"{tdir}/{evil}-abs"])
    case("symlink_abs_then_write",
         tar_bytes([(info("l", tarfile.SYMTYPE, link=tdir), None),
                    (info(f"l/{evil}-sl"), b"x")]),
         "ok", inside=[f"{tdir.lstrip('/')}/{evil}-sl"], absent=[f"{tdir}/{evil}-sl"])
    case("symlink_up_then_write",
         tar_bytes([(info("l", tarfile.SYMTYPE, link="../../.."), None),
                    (info(f"l/{evil}-up"), b"x")]),
         "ok", inside=[f"{evil}-up"], absent=[f"{tdir}/{evil}-up"])
    case("symlink_etc_then_write",
         tar_bytes([(info("etc", tarfile.DIRTYPE, mode=0o755), None),
                    (info("e", tarfile.SYMTYPE, link="/etc"), None),
                    (info(f"e/{evil}-etc"), b"x")]),
         "ok", inside=[f"etc/{evil}-etc"], absent=[f"/etc/{evil}-etc"])
    case("whiteout_through_symlink",
         tar_bytes([(info("l", tarfile.SYMTYPE, link=tdir), None),
                    (info("l/.wh.canary"), b"")]),
         "ok", inside=["l"])
    case("opaque_through_symlink",
         tar_bytes([(info("l", tarfile.SYMTYPE, link=tdir), None),
                    (info("l/.wh..wh..opq"), b"")]),
         "ok", inside=[tdir.lstrip("/")])
    case("hardlink_up", tar_bytes([(info("h", tarfile.LNKTYPE, link="../../etc/passwd"), None)]),
         "error", "unprocessable_entity", "../../etc/passwd")
    case("hardlink_abs", tar_bytes([(info("h", tarfile.LNKTYPE, link="/etc/passwd"), None)]),
         "error", "unprocessable_entity", "/etc/passwd")
    case("hardlink_to_outside_symlink",
         tar_bytes([(info("s", tarfile.SYMTYPE, link=f"{tdir}/canary"), None),
                    (info("h", tarfile.LNKTYPE, link="s"), None)]),
         "ok", inside=["h", "s"])
    case("devices",
         tar_bytes([(info("dev/c", tarfile.CHRTYPE), None), (info("dev/b", tarfile.BLKTYPE), None),
                    (info("dev/f", tarfile.FIFOTYPE), None)]),
         "ok", needle="skipped_devices=3")
    case("whiteout_dotdot", tar_bytes([(info(".wh..."), b"")]), "error",
         "unprocessable_entity", ".wh...")
    case("whiteout_dotdot_dir", tar_bytes([(info("a/.wh.../x"), b"")]), "error",
         "unprocessable_entity", "a/.wh.../x")
    case("bomb_entries", tar_bytes([(info(f"b/{i}"), b"") for i in range(3000)]), "error",
         "payload_too_large", "entries", args=["--max-entries", "1000"], gz=True)
    case("bomb_huge_declared", huge_declared(), "error", "payload_too_large", "bomb/huge")
    case("bomb_sparse_declared", huge_sparse(), "error", "payload_too_large", "bomb/sparse")
    whole = gzip.compress(tar_bytes([(info(f"f{i}"), os.urandom(4096)) for i in range(16)]))
    case("truncated_gzip", whole[: len(whole) // 2], "error", "unprocessable_entity", "layer 0")
    case("corrupt_header", corrupt_header(), "error", "unprocessable_entity", "layer 0")

    with open(os.path.join(a.outdir, "cases.json"), "w") as f:
        json.dump(cases, f, indent=1)


if __name__ == "__main__":
    main()

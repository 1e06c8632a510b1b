#!/usr/bin/python3
"""Writes an OCI image layout tarball of busybox-static, offline and byte-reproducible.

usage: mkoci.py OUT.tar NAME[:TAG] [BUSYBOX]   (BUSYBOX defaults to /bin/busybox)

One uncompressed layer (bin/busybox and applet symlinks, uid/gid 0, mtime 0), its config
(rootfs.diff_ids = the layer's sha256), a manifest and index.json, whose manifest descriptor is
annotated with the image name containerd's `ctr images import` gives the image.
"""
import hashlib
import io
import json
import sys
import tarfile

APPLETS = ["sh", "true", "false", "echo", "cat", "ls", "sleep", "ps"]


def add(tar, name, data=None, mode=0o755, kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.uid = info.gid = 0
    info.mtime = 0
    info.linkname = link
    if data is not None:
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    else:
        tar.addfile(info)


def layer(busybox):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            add(t, d, kind=tarfile.DIRTYPE)
        with open(busybox, "rb") as f:
            add(t, "bin/busybox", f.read())
        for a in APPLETS:
            add(t, "bin/" + a, kind=tarfile.SYMTYPE, link="busybox", mode=0o777)
    return buf.getvalue()


def main():
    out, name = sys.argv[1], sys.argv[2]
    busybox = sys.argv[3] if len(sys.argv) > 3 else "/bin/busybox"
    blobs = {}

    def blob(data, media):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media, "digest": digest, "size": len(data)}

    lay = layer(busybox)
    config = json.dumps({
        "architecture": "amd64", "os": "linux",
        "config": {"Cmd": ["/bin/sh"], "Env": ["PATH=/bin"]},
        "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(lay).hexdigest()]},
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": blob(config, "application/vnd.oci.image.config.v1+json"),
        "layers": [blob(lay, "application/vnd.oci.image.layer.v1.tar")],
    }, sort_keys=True).encode()
    desc = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    desc["annotations"] = {"io.containerd.image.name": name,
                           "org.opencontainers.image.ref.name": name.rsplit(":", 1)[-1]}
    index = json.dumps({"schemaVersion": 2, "manifests": [desc]}, sort_keys=True).encode()
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
        add(t, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode(), 0o644)
        add(t, "index.json", index, 0o644)
        add(t, "blobs", kind=tarfile.DIRTYPE)
        add(t, "blobs/sha256", kind=tarfile.DIRTYPE)
        for digest, data in sorted(blobs.items()):
            add(t, "blobs/sha256/" + digest.split(":")[1], data, 0o644)


if __name__ == "__main__":
    main()

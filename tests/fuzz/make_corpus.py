#!/usr/bin/env python3
"""Writes the seed corpus of the bridge fuzzer (tests/fuzz/corpus/).

Every seed is one raw bridge frame: a 16-byte little-endian header {Type u32, Size u32, ID u64}
(Size = 16 + body length) followed by the JSON body. Host->guest bodies end with the "\\n"
hcsshim's json.Encoder writes, and Size counts it.

Two sources:
  t-NNN-TTTTTTTT  messages of the recorded session tests/data/transcript-hcsshim-v0.12.5.txt
                  (NNN = the message's position in the transcript). Messages that differ from an
                  earlier one only in numbers and hex IDs (the 50 exec+wait latency rounds) are
                  left out unless --all is given; the line cut off with "...(truncated)" is
                  always skipped.
  s-NAME          the examples of the spec (/work/shared/spec/gcs-protocol.md sections 4, 5.2,
                  7-11 and 14.1), including ModifySettings with every resource type.

The output is deterministic; stale t-*/s-* files are removed. Python 3 standard library only.
Usage: tests/fuzz/make_corpus.py [--all] [--transcript FILE] [--out DIR]
"""

import argparse
import json
import os
import re
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
DEFAULT_TRANSCRIPT = os.path.join(ROOT, "tests", "data", "transcript-hcsshim-v0.12.5.txt")
DEFAULT_OUT = os.path.join(HERE, "corpus")

LINE_RE = re.compile(
    r"^\[\s*[0-9.]+ms\] (H->G|G->H) type=0x([0-9a-fA-F]{8})\(\S+\) size=(\d+) id=(\d+) (.*)$"
)
SHAPE_RE = re.compile(r"[0-9a-f]{16,}|\d+")

# Message types (spec section 3).
CREATE, START, SHUTDOWN_GRACEFUL, SHUTDOWN_FORCED = 0x00100101, 0x00100201, 0x00100301, 0x00100401
EXECUTE, WAIT, SIGNAL, RESIZE = 0x00100501, 0x00100601, 0x00100701, 0x00100801
PROPERTIES, MODIFY, NEGOTIATE, DUMP_STACKS = 0x00100901, 0x00100A01, 0x00100B01, 0x00100C01
DELETE_STATE, UPDATE, LIFECYCLE = 0x00100D01, 0x00100E01, 0x00100F01
SERVICE = 0x00200101
REQ, RESP = 0x10000000, 0x20000000
NOTIFY = 0x30100101

Z = "00000000-0000-0000-0000-000000000000"
C = "3f2a" + "5c" * 29 + "e1"  # 64 hex characters, as in spec 14.1
INFINITE = 4294967295


def frame(type_, id_, body):
    """A raw frame of a body (bytes)."""
    return struct.pack("<IIQ", type_, 16 + len(body), id_) + body


def compact(obj):
    """Compact JSON text as Go writes it (key order as given)."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def go_escape(text):
    """What json.Marshal does on top of compact(): <, >, & as \\u escapes (HTML safety)."""
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def inner(obj):
    """A document carried inside a JSON string: both sides json.Marshal it."""
    return go_escape(compact(obj))


def host(type_, id_, obj):
    """A host->guest frame: json.Encoder output with its trailing newline."""
    return frame(REQ | type_, id_, (compact(obj) + "\n").encode())


def guest(type_, id_, obj, kind=RESP):
    """A guest->host frame: json.Marshal output (no newline); <, >, & escaped like Go."""
    return frame(type_ if kind is None else kind | type_, id_, go_escape(compact(obj)).encode())


def base(cid=Z):
    return {"ContainerId": cid, "ActivityId": Z}


def ok():
    return {"Result": 0, "ActivityId": Z}


def error(hresult, message):
    r = hresult - (1 << 32) if hresult >= 1 << 31 else hresult
    return {
        "Result": r,
        "ActivityId": Z,
        "ErrorMessage": message,
        "ErrorRecords": [
            {
                "Result": r,
                "Message": message,
                "ModuleName": "gcs",
                "FileName": "",
                "Line": INFINITE,
            }
        ],
    }


def modify(request_type, resource_type, settings=None, cid=Z):
    req = {}
    if request_type:
        req["RequestType"] = request_type
    req["ResourceType"] = resource_type
    if settings is not None:
        req["Settings"] = settings
    return dict(base(cid), Request=req)


def execute(params, stdio, cid=C, windows_stdio=None):
    settings = {"ProcessParameters": inner(params)}
    if windows_stdio is not None:
        settings["StdioRelaySettings"] = windows_stdio
    settings["VsockStdioRelaySettings"] = stdio
    return dict(base(cid), Settings=settings)


NEGOTIATE_RESP = {
    "Result": 0,
    "ActivityId": Z,
    "Version": 4,
    "Capabilities": {
        "SupportedSchemaVersions": [{"Major": 2, "Minor": 1}],
        "RuntimeOsType": "Linux",
        "GuestDefinedCapabilities": {
            "NamespaceAddRequestSupported": True,
            "SignalProcessSupported": True,
            "DumpStacksSupported": True,
            "DeleteContainerStateSupported": True,
        },
    },
}

# Section 8: the example container configuration.
CONTAINER_CONFIG = {
    "SchemaVersion": {"Major": 2, "Minor": 1},
    "OciBundlePath": "/run/gcs/c/c1",
    "OciSpecification": {
        "ociVersion": "1.1.0",
        "process": {
            "terminal": False,
            "user": {"uid": 0, "gid": 0},
            "args": ["/bin/sh", "-c", "echo hi"],
            "env": ["PATH=/usr/bin:/bin"],
            "cwd": "/",
        },
        "root": {"path": "/run/gcs/c/c1/rootfs"},
        "hostname": "c1",
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}]
        },
    },
    "ScratchDirPath": "/run/gcs/c/c1/scratch/c1",
}

OCI_PROCESS = {
    "terminal": True,
    "consoleSize": {"height": 24, "width": 80},
    "user": {"uid": 0, "gid": 0, "umask": 18, "additionalGids": [1, 2], "username": "root"},
    "args": ["/bin/sh", "-c", "echo a && echo b > /tmp/x"],
    "env": ["PATH=/usr/bin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"]},
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": True,
    "oomScoreAdj": -500,
}

VERITY = {
    "Ext4SizeInBytes": 134217728,
    "Version": 1,
    "Algorithm": "sha256",
    "SuperBlock": True,
    "RootDigest": "8f" * 32,
    "Salt": "00" * 32,
    "BlockSize": 4096,
}

LCOW_METRICS = {
    "pids": {"current": 3, "limit": 0},
    "cpu": {
        "usage": {"total": 123456789, "kernel": 1000, "user": 2000,
                  "per_cpu": [61728394, 61728395]},
        "throttling": {"periods": 0, "throttled_periods": 0, "throttled_time": 0},
    },
    "memory": {
        "cache": 4096,
        "rss": 1048576,
        "total_inactive_file": 0,
        "usage": {"limit": 9223372036854771712, "usage": 2097152, "max": 4194304, "failcnt": 0},
        "swap": {"limit": 0, "usage": 0},
    },
    "memory_oom_control": {"oom_kill_disable": 0, "under_oom": 0, "oom_kill": 0},
}


def spec_seeds():
    """(name, frame) pairs for the spec's examples."""
    s = []

    def add(name, data):
        s.append(("s-" + name, data))

    # 4. NegotiateProtocol
    add("negotiate-req", host(NEGOTIATE, 0, dict(base(""), MinimumVersion=4, MaximumVersion=4)))
    add("negotiate-resp", guest(NEGOTIATE, 0, NEGOTIATE_RESP))
    add("negotiate-req-v3", host(NEGOTIATE, 0, dict(base(""), MinimumVersion=3, MaximumVersion=3)))
    add(
        "negotiate-resp-hostcaps",
        guest(
            NEGOTIATE,
            0,
            {
                "Result": 0,
                "ActivityId": Z,
                "Version": 4,
                "Capabilities": {
                    "SendHostCreateMessage": True,
                    "SendHostStartMessage": True,
                    "HvSocketConfigOnStartup": True,
                    "SendLifecycleNotifications": True,
                    "ModifyServiceSettingsSupported": True,
                    "SupportedSchemaVersions": [{"Major": 2, "Minor": 1},
                                                {"Major": 2, "Minor": 5}],
                    "RuntimeOsType": "Windows",
                    "GuestDefinedCapabilities": {},
                },
            },
        ),
    )
    add("negotiate-resp-lcow", guest(NEGOTIATE, 0, dict(NEGOTIATE_RESP, Capabilities=dict(
        NEGOTIATE_RESP["Capabilities"], GuestDefinedCapabilities=dict(
            NEGOTIATE_RESP["Capabilities"]["GuestDefinedCapabilities"],
            LcowContainerOperationsSupported=True)))))
    add("negotiate-resp-unsupported", guest(NEGOTIATE, 0, error(0xC037010C, "HRESULT 0xc037010c")))
    # Regression: a failed response that carries the capabilities anyway re-encodes as base only.
    add("negotiate-resp-failed-caps", guest(NEGOTIATE, 0, dict(
        error(0xC037010C, "HRESULT 0xc037010c"), Version=4,
        Capabilities={"GuestDefinedCapabilities": {"SignalProcessSupported": True}})))

    # 5.2 error response
    add("error-resp", guest(EXECUTE, 3, error(0xC037010E, "HRESULT: 0xc037010e")))
    e = error(0x80004005, "HRESULT 0x80004005: failed <&>")
    e["ErrorRecords"] = [{
        "Result": -2147467259, "Message": "HRESULT 0x80004005: failed <&>",
        "StackTrace": "goroutine 1 [running]:\nmain.main()", "ModuleName": "gcs",
        "FileName": "x.go", "Line": 42, "FunctionName": "main.main"}]
    add("error-resp-full", guest(MODIFY, 4, e))
    add("notimpl-resp", guest(DUMP_STACKS, 1, error(0x80004001, "HRESULT 0x80004001")))

    # 7.1 / 8. Create
    add("create-req", host(CREATE, 4, dict(base("c1"), ContainerConfig=inner(CONTAINER_CONFIG))))
    add("create-resp", guest(CREATE, 4, dict(ok(), SelectedProtocolVersion=0)))
    add("create-resp-v3", guest(CREATE, 4, dict(ok(), SelectedVersion="2.1",
                                                SelectedProtocolVersion=3)))
    old = dict(CONTAINER_CONFIG, SchemaVersion={"Major": 2, "Minor": 0})
    add("create-req-schema20", host(CREATE, 4, dict(base("c1"), ContainerConfig=inner(old))))
    # 7.2, 7.3, 7.11: base only
    add("start-req", host(START, 5, base(C)))
    add("start-resp", guest(START, 5, ok()))
    add("shutdown-graceful-req", host(SHUTDOWN_GRACEFUL, 12, base(C)))
    add("shutdown-forced-req", host(SHUTDOWN_FORCED, 13, base(C)))
    add("shutdown-forced-resp", guest(SHUTDOWN_FORCED, 13, ok()))
    add("delete-state-req", host(DELETE_STATE, 14, base(C)))

    # 7.4 / 9. ExecuteProcess
    add("exec-req-init", host(EXECUTE, 6, execute(
        {"CreateStdInPipe": True, "CreateStdOutPipe": True, "CreateStdErrPipe": True},
        {"StdIn": 1073741825, "StdOut": 1073741826, "StdErr": 1073741827})))
    add("exec-req-oci", host(EXECUTE, 8, execute(
        {"CreateStdOutPipe": True, "CreateStdErrPipe": True, "OciProcess": OCI_PROCESS},
        {"StdOut": 1073741828, "StdErr": 1073741829})))
    add("exec-req-uvm", host(EXECUTE, 9, execute(
        {
            "CommandArgs": ["/bin/install-drivers", "/run/drivers/guid", "/run/mounts/scsi/m3"],
            "WorkingDirectory": "/",
            "Environment": {
                "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
            "CreateStdErrPipe": True,
        },
        {"StdErr": 1073741830}, cid=Z)))
    add("exec-req-console", host(EXECUTE, 10, execute(
        {
            "ApplicationName": "sh",
            "CommandLine": "sh -c 'echo $HOME'",
            "User": "root",
            "WorkingDirectory": "/root",
            "Environment": {"A": "<&>", "HOME": "/root", "TERM": "xterm"},
            "RestrictedToken": True,
            "EmulateConsole": True,
            "CreateStdInPipe": True,
            "CreateStdOutPipe": True,
            "ConsoleSize": [24, 80],
            "CreateInUtilityVM": True,
            "UseExistingLogin": True,
            "UseLegacyConsole": True,
        },
        {"StdIn": 1073741831, "StdOut": 1073741832}, cid=Z)))
    add("exec-req-windows", host(EXECUTE, 11, execute(
        {"CommandLine": "cmd.exe"}, {}, windows_stdio={
            "StdIn": "40000001-facb-11e6-bd58-64006a7986d3"})))
    add("exec-resp", guest(EXECUTE, 6, dict(ok(), ProcessId=912)))

    # 7.5 WaitForProcess
    add("wait-req", host(WAIT, 7, dict(base(C), ProcessId=912, TimeoutInMs=INFINITE)))
    add("wait-req-timeout", host(WAIT, 7, dict(base(C), ProcessId=912, TimeoutInMs=50)))
    add("wait-resp", guest(WAIT, 7, dict(ok(), ExitCode=143)))
    add("wait-resp-timeout", guest(WAIT, 7, error(0xC0370109, "HRESULT 0xc0370109: timeout")))
    add("wait-resp-notfound", guest(WAIT, 7, error(0x80070490, "HRESULT 0x80070490")))

    # 7.6 SignalProcess, 7.7 ResizeConsole
    add("signal-req", host(SIGNAL, 11, dict(base(C), ProcessId=912, Options={"Signal": 15})))
    add("signal-req-nooptions", host(SIGNAL, 11, dict(base(C), ProcessId=912)))
    add("signal-req-empty-options", host(SIGNAL, 11, dict(base(C), ProcessId=912, Options={})))
    add("signal-resp", guest(SIGNAL, 11, ok()))
    add("resize-req", host(RESIZE, 12, dict(base(C), ProcessId=912, Height=50, Width=132)))
    add("resize-resp", guest(RESIZE, 12, ok()))

    # 7.8 / 11. GetProperties
    add("props-req-processlist", host(PROPERTIES, 10, dict(
        base(C), Query=inner({"PropertyTypes": ["ProcessList"]}))))
    add("props-req-statistics", host(PROPERTIES, 10, dict(
        base(C), Query=inner({"PropertyTypes": ["Statistics", "Memory", "CpuGroup"]}))))
    add("props-req-empty", host(PROPERTIES, 10, dict(base(C), Query="")))
    add("props-resp-processlist", guest(PROPERTIES, 10, dict(
        ok(), Properties=inner({"ProcessList": [{"ProcessId": 812}, {"ProcessId": 840}]}))))
    add("props-resp-metrics", guest(PROPERTIES, 10, dict(
        ok(), Properties=inner({"ProcessList": [{"ProcessId": 912}],
                                  "LCOWMetrics": LCOW_METRICS}))))

    # 7.9 / 10. ModifySettings, every resource type
    mvd = "MappedVirtualDisk"
    add("modify-mvd-layer", host(MODIFY, 20, modify("Add", mvd, {
        "MountPath": "/run/mounts/scsi/m0", "Lun": 1, "ReadOnly": True, "Options": ["ro"]})))
    add("modify-mvd-scratch", host(MODIFY, 21, modify("Add", mvd, {
        "MountPath": "/run/gcs/c/" + C, "Lun": 2, "EnsureFilesystem": True,
        "Filesystem": "ext4"})))
    add("modify-mvd-all", host(MODIFY, 22, modify("Add", mvd, {
        "MountPath": "/run/mounts/scsi/m1", "Lun": 63, "Controller": 3, "Partition": 2,
        "ReadOnly": True, "Encrypted": True, "Options": ["ro", "noatime"], "BlockDev": True,
        "VerityInfo": VERITY, "EnsureFilesystem": True, "Filesystem": "xfs"})))
    add("modify-mvd-remove", host(MODIFY, 23, modify("Remove", mvd, {
        "MountPath": "/run/mounts/scsi/m0", "Lun": 1, "ReadOnly": True})))
    add("modify-scsi-remove", host(MODIFY, 24, modify("Remove", "SCSIDevice", {
        "Controller": 1, "Lun": 2})))
    add("modify-vpmem", host(MODIFY, 25, modify("Add", "VPMemDevice", {
        "MountPath": "/run/layers/p0"})))
    add("modify-vpmem-mapped", host(MODIFY, 26, modify("Add", "VPMemDevice", {
        "DeviceNumber": 3, "MountPath": "/run/layers/p3-4096-1048576",
        "MappingInfo": {"DeviceOffsetInBytes": 4096, "DeviceSizeInBytes": 1048576},
        "VerityInfo": VERITY})))
    add("modify-combined-layers", host(MODIFY, 27, modify("Add", "CombinedLayers", {
        "ContainerID": C, "ContainerRootPath": "/run/gcs/c/%s/rootfs" % C,
        "Layers": [{"Id": "l1", "Path": "/run/layers/p1", "PathType": "AbsolutePath",
                    "Cache": "Enabled"}, {"Path": "/run/layers/p0"}],
        "ScratchPath": "/run/gcs/c/%s/scratch/%s" % (C, C)})))
    add("modify-combined-layers-remove", host(MODIFY, 28, modify("Remove", "CombinedLayers", {
        "ContainerRootPath": "/run/gcs/c/%s/rootfs" % C})))
    add("modify-mapped-directory", host(MODIFY, 29, modify("Add", "MappedDirectory", {
        "MountPath": "/run/gcs/c/%s/mounts/m0" % C, "Port": 564, "ShareName": "0",
        "ReadOnly": True})))
    add("modify-network", host(MODIFY, 30, modify("Add", "Network", {
        "NamespaceID": "6f0c1a7e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
        "ID": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "MacAddress": "00-15-5D-12-34-56",
        "DNSSuffix": "a.b,c.d", "DNSServerList": "10.0.0.10,10.0.0.11", "EncapOverhead": 50,
        "VPCIAssigned": True,
        "IPConfigs": [{"IPAddress": "10.1.0.5", "PrefixLength": 24},
                      {"IPAddress": "fd00::5", "PrefixLength": 64}],
        "Routes": [{"NextHop": "10.1.0.1", "DestinationPrefix": "0.0.0.0/0", "Metric": 10},
                   {"NextHop": "fd00::1", "DestinationPrefix": "::/0"}],
        "PolicyBasedRouting": True, "EnableLowMetric": True})))
    add("modify-network-remove", host(MODIFY, 31, modify("Remove", "Network", {
        "NamespaceID": "6f0c1a7e-1b2c-4d3e-8f90-a1b2c3d4e5f6",
        "ID": "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"})))
    add("modify-vpci", host(MODIFY, 32, modify("Add", "VPCIDevice", {
        "VMBusGUID": "1c2d3e4f-5a6b-7c8d-9e0f-a1b2c3d4e5f6"})))
    add("modify-container-constraints", host(MODIFY, 33, modify("Update", "ContainerConstraints", {
        "Windows": {}, "Linux": {"memory": {"limit": 536870912},
                                 "cpu": {"shares": 512, "quota": -1, "period": 100000}}}, cid=C)))
    add("modify-security-policy", host(MODIFY, 34, modify("Add", "SecurityPolicy", {
        "EnforcerType": "rego", "EncodedSecurityPolicy": "cGFja2FnZSBwb2xpY3kK",
        "EncodedUVMReference": "dXZtLXJlZg==", "EncodedUVMHashEnvelopeReference": "ZW52"})))
    add("modify-security-policy-fragment", host(MODIFY, 35, modify(
        "Add", "SecurityPolicyFragment",
        {"Fragment": "ZnJhZ21lbnQ=", "MediaType": "application/cose_x509+rego"})))
    add("modify-pod-cgroup-memory-limit", host(MODIFY, 36, modify(
        "Update", "PodCgroupMemoryLimit")))
    # lcow extension (docs/protocol.md): LcowContainerOperation with the container's own ID.
    add("modify-lcow-container-operation-pause", host(MODIFY, 40, modify(
        "Update", "LcowContainerOperation", {"Operation": "Pause"}, cid=C)))
    add("modify-lcow-container-operation-killall", host(MODIFY, 41, modify(
        "Update", "LcowContainerOperation", {"Operation": "KillAll", "Signal": 15}, cid=C)))
    add("modify-hvsocket-windows", host(MODIFY, 37, modify("Add", "HvSocket", {
        "HvSocketConfig": {"DefaultBindSecurityDescriptor": "D:P(A;;FA;;;SY)"}})))
    add("modify-no-request-type", host(MODIFY, 38, modify(None, "VPMemDevice", {
        "DeviceNumber": 1, "MountPath": "/run/layers/p1"})))
    add("modify-unknown-resource", host(MODIFY, 39, modify("PreAdd", "Frobnicator", [1, "x"])))
    add("modify-resp", guest(MODIFY, 20, ok()))

    # 7.10 DumpStacks, 7.12 the Windows-only requests
    add("dump-stacks-req", host(DUMP_STACKS, 40, base(Z)))
    add("dump-stacks-resp", guest(DUMP_STACKS, 40, dict(
        ok(), GuestStacks="goroutine 1 [running]:\nmain.main()\n\t/src/main.go:10 +0x1d\n")))
    add("update-container-req", host(UPDATE, 41, dict(
        base(C), ResourceType="Memory", Settings={"Limit": 1073741824})))
    add("lifecycle-notification-req", host(LIFECYCLE, 42, dict(
        base(C), Type="Started", Payload={"x": [1, 2.5, None, True]})))
    add("service-settings-req", host(SERVICE, 43, dict(
        base(Z), PropertyType="LogForwardService", Settings={"Enable": True})))
    add("service-settings-resp", guest(SERVICE, 43, ok()))

    # 7.14 notification
    for t in ("UnexpectedExit", "GracefulExit"):
        add("notify-" + t.lower(), guest(NOTIFY, 0, dict(
            base(C), Type=t, Operation="None", Result=0), kind=None))
    add("notify-resultinfo", guest(NOTIFY, 0, dict(
        base(C), Type="ForcedExit", Operation="Terminate", Result=-2147467259,
        ResultInfo=inner({"Reason": "killed"})), kind=None))

    # 14.1 annotated replay transcript
    create_inner = {
        "SchemaVersion": {"Major": 2, "Minor": 1},
        "OciBundlePath": "/run/gcs/c/" + C,
        "OciSpecification": {
            "ociVersion": "1.1.0",
            "process": {"args": ["/bin/sh"], "cwd": "/", "user": {"uid": 0, "gid": 0}},
            "root": {"path": "/run/gcs/c/%s/rootfs" % C},
            "linux": {},
        },
        "ScratchDirPath": "/run/gcs/c/%s/scratch/%s" % (C, C),
    }
    stopped = error(0xC0370110, "HRESULT 0xc0370110: container not running")
    replay = [
        host(NEGOTIATE, 0, dict(base(""), MinimumVersion=4, MaximumVersion=4)),
        guest(NEGOTIATE, 0, NEGOTIATE_RESP),
        host(MODIFY, 1, modify("Add", "VPMemDevice", {"MountPath": "/run/layers/p0"})),
        guest(MODIFY, 1, ok()),
        host(MODIFY, 2, modify("Add", "MappedVirtualDisk", {
            "MountPath": "/run/gcs/c/" + C, "EnsureFilesystem": True, "Filesystem": "ext4"})),
        host(MODIFY, 3, modify("Add", "CombinedLayers", {
            "ContainerID": C, "ContainerRootPath": "/run/gcs/c/%s/rootfs" % C,
            "Layers": [{"Path": "/run/layers/p0"}],
            "ScratchPath": "/run/gcs/c/%s/scratch/%s" % (C, C)})),
        host(CREATE, 4, dict(base(C), ContainerConfig=inner(create_inner))),
        guest(CREATE, 4, dict(ok(), SelectedProtocolVersion=0)),
        host(START, 5, base(C)),
        host(EXECUTE, 6, execute(
            {"CreateStdInPipe": True, "CreateStdOutPipe": True, "CreateStdErrPipe": True},
            {"StdIn": 1073741825, "StdOut": 1073741826, "StdErr": 1073741827})),
        guest(EXECUTE, 6, dict(ok(), ProcessId=912)),
        host(WAIT, 7, dict(base(C), ProcessId=912, TimeoutInMs=INFINITE)),
        host(EXECUTE, 8, execute(
            {"CreateStdOutPipe": True,
             "OciProcess": {"args": ["ps"], "cwd": "/", "user": {"uid": 0, "gid": 0}}},
            {"StdOut": 1073741828})),
        guest(EXECUTE, 8, dict(ok(), ProcessId=930)),
        guest(WAIT, 9, dict(ok(), ExitCode=0)),
        host(PROPERTIES, 10, dict(base(C), Query=inner({"PropertyTypes": ["ProcessList"]}))),
        guest(PROPERTIES, 10, dict(ok(), Properties=inner(
            {"ProcessList": [{"ProcessId": 912}]}))),
        host(SIGNAL, 11, dict(base(C), ProcessId=912, Options={"Signal": 15})),
        guest(WAIT, 7, dict(ok(), ExitCode=143)),
        guest(NOTIFY, 0, dict(base(C), Type="GracefulExit", Operation="None", Result=0),
              kind=None),
        host(SHUTDOWN_GRACEFUL, 12, base(C)),
        guest(SHUTDOWN_GRACEFUL, 12, stopped),
        host(SHUTDOWN_FORCED, 13, base(C)),
        guest(SHUTDOWN_FORCED, 13, stopped),
        host(DELETE_STATE, 14, base(C)),
        guest(DELETE_STATE, 14, ok()),
        host(MODIFY, 15, modify("Remove", "CombinedLayers", {
            "ContainerRootPath": "/run/gcs/c/%s/rootfs" % C})),
        host(MODIFY, 16, modify("Remove", "MappedVirtualDisk", {"MountPath": "/run/gcs/c/" + C})),
        host(MODIFY, 17, modify("Remove", "SCSIDevice", {})),
        host(MODIFY, 18, modify("Remove", "VPMemDevice", {"MountPath": "/run/layers/p0"})),
    ]
    for i, data in enumerate(replay):
        type_ = struct.unpack_from("<I", data)[0]
        add("replay-%02d-%08x" % (i + 1, type_), data)
    # A short stream (negotiate, its answer, a ModifySettings): several frames in one input.
    add("replay-stream", b"".join(replay[:3]))
    return s


def transcript_seeds(path, keep_all):
    seeds, seen = [], set()
    n = 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            m = LINE_RE.match(line.rstrip("\n"))
            if not m:
                continue
            n += 1
            direction, type_hex, size, id_, body = m.groups()
            if body.endswith("...(truncated)"):
                continue
            type_ = int(type_hex, 16)
            data = body.encode("utf-8") + (b"\n" if direction == "H->G" else b"")
            if 16 + len(data) != int(size):
                print("make_corpus: message %d: recorded size %s, body gives %d"
                      % (n, size, 16 + len(data)), file=sys.stderr)
            shape = (direction, type_, SHAPE_RE.sub("#", body))
            if not keep_all and shape in seen:
                continue
            seen.add(shape)
            seeds.append(("t-%03d-%08x" % (n, type_), frame(type_, int(id_), data)))
    return seeds


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--all", action="store_true",
                    help="keep every transcript message, not one per shape")
    ap.add_argument("--transcript", default=DEFAULT_TRANSCRIPT)
    ap.add_argument("--out", default=DEFAULT_OUT)
    args = ap.parse_args()

    seeds = transcript_seeds(args.transcript, args.all) + spec_seeds()
    names = [name for name, _ in seeds]
    if len(set(names)) != len(names):
        sys.exit("make_corpus: duplicate seed names")
    os.makedirs(args.out, exist_ok=True)
    for old in sorted(os.listdir(args.out)):
        if re.match(r"^[st]-", old) and old not in names:
            os.unlink(os.path.join(args.out, old))
    total = 0
    for name, data in seeds:
        with open(os.path.join(args.out, name), "wb") as f:
            f.write(data)
        total += len(data)
    print("make_corpus: %d seeds, %d bytes in %s" % (len(seeds), total,
                                                     os.path.relpath(args.out)))


if __name__ == "__main__":
    main()

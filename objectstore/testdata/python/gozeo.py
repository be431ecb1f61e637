"""Run ZEO's and ZODB's own tests against cairn-objectstore.

Importing this module replaces ZEO's test server launcher
(ZEO._forker.start_zeo_server and its copy in ZEO.tests.forker) with one
that starts the Go binary named by $CAIRN_OBJECTSTORE_BIN, so the stock
test classes run unchanged against it (zeo-protocol.md section 11).
"""
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time

import ZEO._forker
import ZEO.tests.forker

BIN = os.environ.get("CAIRN_OBJECTSTORE_BIN", "cairn-objectstore")
# Further flags for every server started, e.g. "-msgpack".
EXTRA_ARGS = os.environ.get("CAIRN_OBJECTSTORE_ARGS", "").split()
_LISTENING = re.compile(r'msg="zeo listening".* addr=(\S+)')


def _option(text, name):
    m = re.search(r"^\s*%s\s+(\S+)" % re.escape(name), text, re.M)
    return m.group(1) if m else None


def _true(value):
    """A ZConfig boolean option's value, or None (absent), as a bool."""
    return (value or "false").lower() in ("true", "yes", "on", "1")


def _zeo_text(zeo_conf, port):
    if zeo_conf is None or isinstance(zeo_conf, dict):
        addr = ("127.0.0.1", port or 0) if port is None or isinstance(port, int) else port
        z = ZEO._forker.ZEOConfig(addr)
        if zeo_conf:
            z.__dict__.update(zeo_conf)
        zeo_conf = z
    if isinstance(zeo_conf, ZEO._forker.ZEOConfig):
        import io
        f = io.StringIO()
        zeo_conf.dump(f)
        return f.getvalue()
    return str(zeo_conf)


def start_zeo_server(storage_conf=None, zeo_conf=None, port=None, keep=False,
                     path='Data.fs', protocol=None, blob_dir=None, **kw):
    """Start cairn-objectstore; return ((host, port) or path, stop)."""
    storage_conf = storage_conf or ""
    zeo_text = _zeo_text(zeo_conf, port)
    address = _option(zeo_text, "address") or "127.0.0.1:0"
    if ":" not in address and not address.startswith("unix:"):
        address = "unix:" + address  # ZEO's str address is a Unix socket
    data = _option(storage_conf, "path") or path
    if "<mappingstorage" in storage_conf or "<demostorage" in storage_conf:
        data = tempfile.mktemp(suffix=".cairn-db", dir=".")
    blobs = _option(storage_conf, "blob-dir") or blob_dir
    args = [BIN, "-listen", address, "-admin", "", "-data", data, "-no-sync"] + EXTRA_ARGS
    if blobs:
        args += ["-blob-dir", blobs]
    # A read-only ZEO server or a read-only storage under it: to clients
    # both are a storage that refuses writes, which is what -read-only is.
    if _true(_option(zeo_text, "read-only")) or _true(_option(storage_conf, "read-only")):
        args += ["-read-only"]
    tt = _option(zeo_text, "transaction-timeout")
    if tt:
        args += ["-transaction-timeout", tt + "s"]
    iqs = _option(zeo_text, "invalidation-queue-size")
    if iqs:
        args += ["-invalidation-queue-size", iqs]
    if _true(_option(zeo_text, "msgpack")):
        args += ["-msgpack"]
    # <ssl>: the server's certificate and key, and "authenticate", the
    # client certificates (a file) to trust.
    cert, key = _option(zeo_text, "certificate"), _option(zeo_text, "key")
    if cert and key:
        args += ["-tls-cert", cert, "-tls-key", key]
        auth = _option(zeo_text, "authenticate")
        if auth and os.path.isfile(auth):
            args += ["-tls-client-ca", auth]
    # Every server started in a test's folder appends to its server.log, as
    # ZEO's own launcher does (some tests read it); this server's lines
    # start at the current end.
    log = open("server.log", "a")
    start = log.tell()
    proc = subprocess.Popen(args, stdout=log, stderr=log, cwd=os.getcwd())
    deadline = time.time() + 30
    addr = None
    while time.time() < deadline:
        with open(log.name) as f:
            f.seek(start)
            m = _LISTENING.search(f.read())
        if m:
            addr = m.group(1)
            break
        if proc.poll() is not None:
            break
        time.sleep(0.01)
    if addr is None:
        proc.kill()
        with open(log.name) as f:
            f.seek(start)
            raise RuntimeError("cairn-objectstore did not start:\n" + f.read())
    if address.startswith("unix:"):
        result = address[len("unix:"):]
    else:
        host, _, p = addr.rpartition(":")
        result = (host, int(p))

    def stop(stop_timeout=99):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        if not keep and os.path.exists(data):
            os.remove(data)
    return result, stop


ZEO._forker.start_zeo_server = start_zeo_server
ZEO.tests.forker.start_zeo_server = start_zeo_server

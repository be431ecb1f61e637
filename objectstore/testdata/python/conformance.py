"""ZODB's storage conformance mixins and ZEO's generic client tests, run
through ZEO.ClientStorage against cairn-objectstore ($CAIRN_OBJECTSTORE_BIN).

Usage: python conformance.py [SUITE ...] [-k pattern]
Prints one line per test that did not pass, then a closing line
"conformance: N passed, N failed, N skipped". Tests matching a
pattern in expected_failures.txt may fail; the exit status is 1 if any other fails.
"""
import argparse
import doctest
import fnmatch
import os
import re
import sys
import tempfile
import unittest

import gozeo  # noqa: F401  (patches the ZEO test server launcher)

from ZEO.tests import forker, testConnection, testZEO
from ZODB.tests import (
    BasicStorage, ConflictResolution, HistoryStorage, IteratorStorage,
    MTStorage, PersistentStorage, ReadOnlyStorage, RevisionStorage,
    Synchronization, TransactionalUndoStorage)
import ZODB.tests.util
import zope.testing.setupstack
from zope.testing import renormalizing


class ZODBMixins(
        testZEO.GenericTestBase,
        BasicStorage.BasicStorage,
        RevisionStorage.RevisionStorage,
        Synchronization.SynchronizedStorage,
        MTStorage.MTStorage,
        PersistentStorage.PersistentStorage,
        ReadOnlyStorage.ReadOnlyStorage,
        HistoryStorage.HistoryStorage,
        IteratorStorage.IteratorStorage,
        ConflictResolution.ConflictResolvingStorage,
        TransactionalUndoStorage.TransactionalUndoStorage):
    """The storage conformance mixins the issue lists."""

    def getConfig(self):
        return "<filestorage 1>\npath Data.fs\n</filestorage>\n"

    open = testZEO.GenericTests.open


SUITES = {
    "mixins": [ZODBMixins],
    "generic": [testZEO.MappingStorageTests],
    "full": [testZEO.FileStorageTests],
    "recovery": [testZEO.FileStorageRecoveryTests],
    "blobs": [testZEO.BlobAdaptedFileStorageTests, testZEO.BlobWritableCacheTests],
    # The rest of ZEO's generic client test classes that apply to a server
    # other than ZEO's own: client-side conflict resolution, loads answered
    # late, a client-side storage wrapper, a DemoStorage over the client.
    "more": [testZEO.ClientConflictResolutionTests, testZEO.FileStorageLoadDelayedTests,
             testZEO.FileStorageClientHexTests, testZEO.DemoStorageTests],
    # ZEO's connection tests: servers stopped and started under connected
    # clients (reconnection, cache verification with getInvalidations and
    # its invalidation queue, read-only servers and fallback), transaction
    # timeouts, and the client's error logging.
    "connection": [testConnection.FileStorageConnectionTests,
                   testConnection.FileStorageReconnectionTests,
                   testConnection.FileStorageInvqTests,
                   testConnection.FileStorageTimeoutTests,
                   testZEO.ZRPCConnectionTests],
}


def zeo_doctests():
    """The doctests in ZEO.tests.testZEO's functions, set up and
    renormalized as ZEO's own test_suite does."""
    patterns = [
        (re.compile(r"'start': '[^\n]+'"), 'start'),
        (re.compile(r"'last-transaction': '[0-9a-f]+'"), 'last-transaction'),
        (re.compile("ZODB.POSException.ConflictError"), "ConflictError"),
        (re.compile("ZODB.POSException.POSKeyError"), "POSKeyError"),
        (re.compile("ZEO.Exceptions.ClientStorageError"), "ClientStorageError"),
        (re.compile("ZEO.Exceptions.ClientDisconnected"), "ClientDisconnected"),
        (re.compile(r"\[Errno \d+\]"), '[Errno N]'),
        (re.compile(r"loads=\d+\.\d+"), 'loads=42.42'),
    ]
    suite = doctest.DocTestSuite(
        testZEO, setUp=forker.setUp, tearDown=zope.testing.setupstack.tearDown,
        checker=renormalizing.RENormalizing(patterns))
    # The runzeo_* doctests start ZEO's own runzeo script, not a server
    # through the launcher: they would pass without testing cairn.
    return unittest.TestSuite(
        t for t in suite if not t.id().split(".")[-1].startswith("runzeo_"))


SUITES["doctests"] = zeo_doctests


def load(classes):
    if callable(classes):
        return classes()
    suite = unittest.TestSuite()
    for cls in classes:
        for prefix in ("check", "test"):
            loader = unittest.TestLoader()
            loader.testMethodPrefix = prefix
            suite.addTests(loader.loadTestsFromTestCase(cls))
    return suite


def flatten(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from flatten(t)
        else:
            yield t


class InTempDir(unittest.TestCase):
    pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("suites", nargs="*", default=["mixins"])
    ap.add_argument("-k", default="*")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, "expected_failures.txt")) as f:
        expected = {l.split("#")[0].strip() for l in f} - {""}
    tests = [t for name in a.suites for t in flatten(load(SUITES[name]))
             if fnmatch.fnmatch(t.id(), "*" + a.k + "*")]
    passed = failed = skipped = unexpected = 0
    for t in tests:
        name = ".".join(t.id().split(".")[-2:])
        cwd = os.getcwd()
        tmp = tempfile.mkdtemp(prefix="cairn-zodb-")
        os.chdir(tmp)
        try:
            r = unittest.TestResult()
            t.run(r)
        finally:
            os.chdir(cwd)
        bad = r.failures + r.errors
        if r.skipped:
            skipped += 1
        elif bad:
            failed += 1
            known = any(fnmatch.fnmatch(name, p) for p in expected)
            if not known:
                unexpected += 1
            print("%s %s" % ("XFAIL" if known else "FAIL", name), flush=True)
            if a.v or not known:
                for _, tb in bad:
                    print(tb, flush=True)
        else:
            passed += 1
            if a.v:
                print("ok", name, flush=True)
            if any(fnmatch.fnmatch(name, p) for p in expected):
                print("XPASS %s (remove it from expected_failures.txt)" % name, flush=True)
    print("conformance: %d passed, %d failed, %d skipped (%d unexpected failures)"
          % (passed, failed, skipped, unexpected), flush=True)
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())

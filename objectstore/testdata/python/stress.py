"""Stress: 8 processes commit concurrently to the same BTree and
BTrees.Length through cairn-objectstore at $ZEO_ADDR, resolving the
conflicts on the client, then the totals are checked.

Usage: python stress.py [processes] [transactions per process]
"""
import multiprocessing
import sys

import transaction
import ZODB
from BTrees.Length import Length
from BTrees.OOBTree import OOBTree
from ZEO.ClientStorage import ClientStorage
from ZODB.POSException import ConflictError

from checks import zeo_addr

ADDR = zeo_addr()


def worker(n, count, out):
    db = ZODB.DB(ClientStorage(ADDR, wait_timeout=60))
    tm = transaction.TransactionManager()
    conn = db.open(tm)
    done = retries = 0
    for i in range(count):
        for attempt in range(50):
            try:
                tm.begin()
                root = conn.root()
                root["tree"]["w%d-%05d" % (n, i)] = i
                root["length"].change(1)
                root["per"][n] = root["per"].get(n, 0) + 1
                tm.commit()
                done += 1
                break
            except ConflictError:
                tm.abort()
                retries += 1
        else:
            raise RuntimeError("worker %d: transaction %d never committed" % (n, i))
    conn.close()
    db.close()
    out.put((n, done, retries))


def main():
    procs = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    db = ZODB.DB(ClientStorage(ADDR, wait_timeout=60))
    with db.transaction() as conn:
        conn.root()["tree"] = OOBTree()
        conn.root()["length"] = Length()
        conn.root()["per"] = OOBTree()
    db.close()
    out = multiprocessing.Queue()
    ps = [multiprocessing.Process(target=worker, args=(n, count, out)) for n in range(procs)]
    for p in ps:
        p.start()
    results = [out.get(timeout=600) for _ in ps]
    for p in ps:
        p.join()
    bad = [p.exitcode for p in ps if p.exitcode]
    retries = sum(r[2] for r in results)
    db = ZODB.DB(ClientStorage(ADDR, wait_timeout=60))
    with db.transaction() as conn:
        root = conn.root()
        total = procs * count
        checks = [
            ("worker exit codes", bad == []),
            ("length", root["length"]() == total),
            ("tree size", len(root["tree"]) == total),
            ("per-process counts", all(root["per"].get(n) == count for n in range(procs))),
        ]
        tree_ok = root["tree"]._check() is None
    db.close()
    checks.append(("tree structure", tree_ok))
    failed = [name for name, ok in checks if not ok]
    print("stress: %d processes x %d transactions, %d conflict retries" % (procs, count, retries))
    for name in failed:
        print("FAIL", name)
    print("stress: %d passed, %d failed" % (len(checks) - len(failed), len(failed)))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

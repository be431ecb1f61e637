"""Named storages: stock ClientStorage clients register with storage "1"
and with storage "catalog" of one cairn-objectstore at $ZEO_ADDR, and
each sees only its own storage's objects."""
import os
import sys

import ZODB
from ZEO.ClientStorage import ClientStorage

host, _, port = os.environ["ZEO_ADDR"].rpartition(":")
addr = (host, int(port))
passed = failed = 0


def check(name, ok):
    global passed, failed
    if ok:
        passed += 1
    else:
        failed += 1
        print("FAIL", name)


def open_db(storage):
    return ZODB.DB(ClientStorage(addr, storage=storage, wait_timeout=30))


main, catalog = open_db("1"), open_db("catalog")
with main.transaction() as conn:
    conn.root()["where"] = "main"
with catalog.transaction() as conn:
    conn.root()["where"] = "catalog"
    conn.root()["only_in_catalog"] = 1
main.close()
catalog.close()

main, catalog = open_db("1"), open_db("catalog")
with main.transaction() as conn:
    check("main root", conn.root()["where"] == "main")
    check("main isolated", "only_in_catalog" not in conn.root())
with catalog.transaction() as conn:
    check("catalog root", conn.root()["where"] == "catalog")
main.close()
catalog.close()
print("named: %d passed, %d failed" % (passed, failed))
sys.exit(1 if failed else 0)

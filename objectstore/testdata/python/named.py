"""Named storages: stock ClientStorage clients register with storage "1"
and with storage "catalog" of one cairn-objectstore at $ZEO_ADDR, and
each sees only its own storage's objects."""

import ZODB
from ZEO.ClientStorage import ClientStorage

from checks import Tally, zeo_addr

addr = zeo_addr()
tally = Tally("named")
check = tally.check


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
tally.exit()

"""Smoke test: a stock ZODB client commits, reopens, reads back and
resolves a BTrees.Length conflict through cairn-objectstore at $ZEO_ADDR."""
import sys

import transaction
import ZODB
from BTrees.Length import Length
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage

from checks import zeo_addr

addr = zeo_addr()


def open_db():
    return ZODB.DB(ClientStorage(addr, wait_timeout=30))


db = open_db()
with db.transaction() as conn:
    conn.root()["x"] = PersistentMapping(a=1)
    conn.root()["len"] = Length()
db.close()

db = open_db()
with db.transaction() as conn:
    assert conn.root()["x"]["a"] == 1, conn.root()["x"]

tm1, tm2 = transaction.TransactionManager(), transaction.TransactionManager()
c1, c2 = db.open(tm1), db.open(tm2)
c1.root()["len"].change(1)
c2.root()["len"].change(2)
tm1.commit()
tm2.commit()  # conflicts; resolved on the client by Length._p_resolveConflict
with db.transaction() as conn:
    assert conn.root()["len"]() == 3, conn.root()["len"]()
print("smoke: protocol %s" % db.storage.protocol_version.decode("ascii"))
db.close()
print("smoke: 4 passed, 0 failed")
sys.exit(0)

"""TLS: a stock ClientStorage with an ssl context (trusting $TLS_CA and
presenting $TLS_CLIENT_CERT/$TLS_CLIENT_KEY) commits and reads back
through cairn-objectstore at $ZEO_ADDR; a client without TLS is turned
away."""
import os
import ssl

import ZODB
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage
from ZEO.Exceptions import ClientDisconnected

from checks import Tally, zeo_addr

addr = zeo_addr()
tally = Tally("tls")
check = tally.check


ctx = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=os.environ["TLS_CA"])
ctx.load_cert_chain(os.environ["TLS_CLIENT_CERT"], os.environ["TLS_CLIENT_KEY"])


def open_db():
    return ZODB.DB(ClientStorage(addr, ssl=ctx, ssl_server_hostname="localhost", wait_timeout=30))


db = open_db()
with db.transaction() as conn:
    conn.root()["x"] = PersistentMapping(secret="over tls")
db.close()
db = open_db()
with db.transaction() as conn:
    check("read back", conn.root()["x"]["secret"] == "over tls")
check("protocol", db.storage.protocol_version == b"Z5")
db.close()

try:
    ClientStorage(addr, wait_timeout=2).close()
    check("plain client refused", False)
except ClientDisconnected:
    check("plain client refused", True)
tally.exit()

"""The Python client workload of cairn-bench's ZEO comparison (bench/zeo*.go).

One process is one ZEO client. Modes:

  prepare ADDR OBJECTS CLIENTS OIDFILE
      Create the root, one PersistentMapping per commit client
      (root['bench'][i]) and OBJECTS data objects of about 200 bytes;
      write the data objects' oids to OIDFILE, one hex oid per line.

  commit ADDR INDEX
      Commit one object of about 200 bytes per transaction (client INDEX's
      own mapping, so clients never conflict) through ZODB.

  load ADDR INDEX CLIENTS OIDFILE WORKING_SET
      Load records through ClientStorage.load, which asks the server on a
      client-cache miss. The client takes every CLIENTS-th oid of OIDFILE
      from INDEX on, keeps the first WORKING_SET of them (0: all) in a
      shuffled order, and loops over them, clearing its cache after each
      pass so that every load reaches the server.

commit and load connect, print "ready", and wait for a line "go SECONDS"
on stdin; they then work for SECONDS, print one JSON line
{"ops", "seconds", "cpu", "lat"} (operations done, the loop's wall and
CPU seconds, and for commits every commit's latency in microseconds), and
exit when stdin closes.
"""
import json
import os
import random
import sys
import time

import transaction
import ZODB
from persistent.mapping import PersistentMapping
from ZEO.ClientStorage import ClientStorage

VALUE = 150  # bytes of payload: a record of about 200 bytes


def address(s):
    host, _, port = s.rpartition(":")
    return (host, int(port))


def prepare(addr, objects, clients, oidfile):
    db = ZODB.DB(ClientStorage(addr, wait_timeout=30))
    with db.transaction() as conn:
        root = conn.root()
        root["bench"] = PersistentMapping(
            {i: PersistentMapping(v=b"0" * VALUE) for i in range(clients)})
    oids = []
    for start in range(0, objects, 1000):
        with db.transaction() as conn:
            batch = [PersistentMapping(v=os.urandom(VALUE)) for _ in range(min(1000, objects - start))]
            for obj in batch:
                conn.add(obj)
            conn.root()["data%d" % start] = batch  # a plain list keeps them reachable
        oids.extend(obj._p_oid for obj in batch)
    db.close()
    with open(oidfile, "w") as f:
        for oid in oids:
            f.write(oid.hex() + "\n")


def wait_for_go():
    print("ready", flush=True)
    line = sys.stdin.readline().split()
    if len(line) != 2 or line[0] != "go":
        sys.exit("expected 'go SECONDS', got %r" % line)
    return float(line[1])


def report(ops, wall, cpu, lat):
    print(json.dumps({"ops": ops, "seconds": wall, "cpu": cpu, "lat": lat}), flush=True)
    sys.stdin.read()  # until the driver closes stdin


def commit(addr, index):
    db = ZODB.DB(ClientStorage(addr, wait_timeout=30))
    conn = db.open()
    obj = conn.root()["bench"][index]
    obj["v"]  # load it before the clock starts
    seconds = wait_for_go()
    lat = []
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + seconds
    now = t0
    while now < end:
        obj["v"] = os.urandom(VALUE)
        transaction.commit()
        t = time.perf_counter()
        lat.append(int((t - now) * 1e6))
        now = t
    cpu, wall = time.process_time() - cpu0, now - t0
    report(len(lat), wall, cpu, lat)
    conn.close()
    db.close()


def load(addr, index, clients, oidfile, working_set):
    with open(oidfile) as f:
        oids = [bytes.fromhex(line.strip()) for line in f if line.strip()]
    mine = oids[index::clients]
    if working_set:
        mine = mine[:working_set]
    random.Random(index).shuffle(mine)
    storage = ClientStorage(addr, wait_timeout=30)
    seconds = wait_for_go()
    ops = i = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    end = t0 + seconds
    now = t0
    while now < end:
        for _ in range(50):
            storage.load(mine[i])
            i += 1
            if i == len(mine):
                i = 0
                storage._cache.clear()  # the next pass asks the server again
        ops += 50
        now = time.perf_counter()
    cpu, wall = time.process_time() - cpu0, now - t0
    report(ops, wall, cpu, [])
    storage.close()


def main(argv):
    mode, addr = argv[1], address(argv[2])
    if mode == "prepare":
        prepare(addr, int(argv[3]), int(argv[4]), argv[5])
    elif mode == "commit":
        commit(addr, int(argv[3]))
    elif mode == "load":
        load(addr, int(argv[3]), int(argv[4]), argv[5], int(argv[6]))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main(sys.argv)

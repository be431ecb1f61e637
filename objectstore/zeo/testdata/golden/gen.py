"""Regenerate golden.txt: ZEO messages exactly as Python ZEO encodes them.

Run with a Python that has ZEO and msgpack installed (a throwaway venv:
python3 -m venv /tmp/zeo-venv && /tmp/zeo-venv/bin/pip install ZEO msgpack):

    /tmp/zeo-venv/bin/python testdata/golden/gen.py > testdata/golden/golden.txt

Each line is "name kind hex" (lines starting with # are comments). Kind Z and M come from ZEO's own encoders
(ZEO.asyncio.marshal.encoder: zodbpickle protocol 3 in fast mode, and
msgpack.packb(use_bin_type=True)); the Go encoder must reproduce them byte
for byte. Kind P lines come from the standard pickle module with other
protocols and the memo, for the decoder only. golden_test.go holds the Go
value each name must decode to.
"""
import collections
import pickle
import sys
import types

import ZODB.POSException as P
from ZEO.asyncio.marshal import encoder, reduce_exception

# A stand-in for ZopeUndo.Prefix.Prefix (not installed here): pickles the
# same way, GLOBAL 'ZopeUndo.Prefix Prefix', EMPTY_TUPLE, NEWOBJ, state, BUILD.
mod = types.ModuleType('ZopeUndo.Prefix')
pkg = types.ModuleType('ZopeUndo')
pkg.Prefix = mod
sys.modules['ZopeUndo'] = pkg
sys.modules['ZopeUndo.Prefix'] = mod


class Prefix:
    def __init__(self, path):
        parts = path.split('/')
        self.length = len(parts)
        self.path = parts


Prefix.__module__ = 'ZopeUndo.Prefix'
mod.Prefix = Prefix


class ExtensionDict(dict):
    # ZODB's testTransactionExtensionFromIterator sends this shape.
    def __reduce__(self):
        return (dict, (tuple(self.items()),))


oid1 = b'\0' * 7 + b'\x01'
oid2 = b'\0' * 7 + b'\x02'
z64 = b'\0' * 8
maxtid = b'\x7f' + b'\xff' * 7
tid1 = bytes.fromhex('03a1b2c3d4e5f607')
tid2 = bytes.fromhex('03a1b2c3d4e5f608')
txnid = 140234567890123
data = bytes(range(256)) + b'record'

MESSAGES = [
    ('heartbeat', (-1, 0, '.reply', None)),
    ('register', (1, False, 'register', ('1', False))),
    ('loadBefore', ((oid1, maxtid), False, 'loadBefore', (oid1, maxtid))),
    ('loadBefore_reply', ((oid1, maxtid), 0, '.reply', (data, tid1, None))),
    ('loadBefore_none', ((oid1, tid1), 0, '.reply', None)),
    ('poskeyerror', ((oid1, maxtid), 2, '.reply',
                     reduce_exception(P.POSKeyError(oid1)))),
    ('tpc_begin', (0, True, 'tpc_begin', (txnid, b'user', b'desc', {}))),
    ('tpc_begin_ext', (0, True, 'tpc_begin',
                       (txnid, b'', b'', {'foo': 'bar', 'n': 1}))),
    ('storea', (0, True, 'storea', (oid1, z64, data, txnid))),
    ('storea_none_serial', (0, True, 'storea', (z64, None, b'x', txnid))),
    ('vote', (7, False, 'vote', (txnid,))),
    ('vote_reply_empty', (7, 0, '.reply', [])),
    ('vote_reply_conflict', (7, 0, '.reply', [
        {'oid': oid1, 'serials': (tid2, tid1), 'data': b'new'}])),
    ('tpc_finish_reply', (8, 0, '.reply', tid2)),
    ('invalidate', (0, True, 'invalidateTransaction', (tid2, [oid1, oid2]))),
    ('invalidate_one', (0, True, 'invalidateTransaction', (tid2, [oid1]))),
    ('invalidate_empty', (0, True, 'invalidateTransaction', (tid2, []))),
    ('info', (0, True, 'info', ({'length': 42, 'size': 123456},))),
    ('get_info_reply', (3, 0, '.reply', {
        'length': 2, 'size': 4096, 'name': 'Data.fs',
        'supportsUndo': True, 'supports_record_iternext': True,
        'interfaces': (('ZODB.interfaces', 'IStorage'),
                       ('zope.interface', 'Interface'))})),
    ('conflict_error', (9, 2, '.reply', reduce_exception(
        P.ConflictError(oid=oid1, serials=(tid2, tid1))))),
    ('read_conflict_error', (9, 2, '.reply', reduce_exception(
        P.ReadConflictError(oid=oid1, serials=(tid2, tid1))))),
    ('read_only_error', (1, 2, '.reply', reduce_exception(P.ReadOnlyError()))),
    ('storage_transaction_error', (4, 2, '.reply', reduce_exception(
        P.StorageTransactionError('Duplicate tpc_begin calls')))),
    ('multiple_undo_errors', (5, 2, '.reply', reduce_exception(
        P.MultipleUndoErrors([(oid1, 'non-undoable'), (oid2, 'conflict')])))),
    ('key_error', (6, 2, '.reply', reduce_exception(KeyError(5)))),
    ('new_oids_reply', (2, 0, '.reply',
                        [(i + 1).to_bytes(8, 'big') for i in range(100)])),
    ('iterator_gc_1001', (0, True, 'iterator_gc', (list(range(1001)),))),
    ('dict_1001', (12, 0, '.reply', {str(i): i for i in range(1001)})),
    ('ints', (10, 0, '.reply', (
        0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129,
        -32768, -32769, 2**31 - 1, -2**31, 2**31, -2**31 - 1,
        2**32, 2**63 - 1, -2**63))),
    ('bigints', (10, 0, '.reply', (2**63, -2**63 - 1, 2**64, 2**64 - 1,
                                   -2**64, 2**2048, -(2**2048), txnid))),
    ('floats', (11, 0, '.reply', (0.0, 1.5, -2.25, 1e300, 1712345678.25))),
    ('strings', (13, 0, '.reply', (
        '', 'h\u00e9llo \u2603', 'x' * 31, 'y' * 32, 'z' * 255, 'w' * 256,
        b'', b'\xff' * 255, b'\xee' * 256))),
    ('nested', (14, 0, '.reply', ((1, (2, (3, (4, (5,))))), [[], [[]]],
                                  {'a': {'b': {}}}, (True, False, None)))),
    ('tuple_keys', (15, 0, '.reply', {(1, 2): 'x', b'k': 'y', 3: 'z'})),
    ('undoInfo_prefix', (16, False, 'undoInfo',
                         (0, 20, {'user_name': Prefix('/plone/site')}))),
    ('extension_reduce', (0, True, 'tpc_begin',
                          (txnid, b'u', b'd', ExtensionDict(a=1, b='two')))),
    ('extension_ordered', (0, True, 'tpc_begin', (
        txnid, b'u', b'd', collections.OrderedDict([('x', 1), ('y', 2)])))),
]

# Pickles from the standard library with the memo and other protocols, for
# the decoder.
shared = [1, 2]
DECODE_ONLY = [
    ('memo_p3', pickle.dumps((1, False, 'm', (shared, shared, 'abc', 'abc')), 3)),
    ('proto2', pickle.dumps((2, False, 'm', (oid1, 'str', [1.5], {'k': b''})), 2)),
    ('proto4', pickle.dumps((3, False, 'm', (oid1, 'str', [1.5], {'k': b''},
                                             P.POSKeyError)), 4)),
    ('proto5', pickle.dumps((4, 0, '.reply', (b'x' * 300, 'long' * 20)), 5)),
    ('proto1', pickle.dumps((5, False, 'm', (1, -70000, 2**70, [None, 2.5], {'a': (1,)})), 1)),
    ('proto0_numbers', pickle.dumps((6, [7, -8, 2**70, 0.5, None, True], {9: (10,)}), 0)),
]


def out(name, kind, b):
    print(name, kind, b.hex())


def main():
    import importlib.metadata as md
    import platform
    print('# generated by gen.py with Python %s, %s' % (platform.python_version(), ', '.join(
        '%s %s' % (p, md.version(p)) for p in ('ZEO', 'ZODB', 'zodbpickle', 'msgpack'))))
    z = encoder(b'Z', True)
    m = encoder(b'M', True)
    for name, msg in MESSAGES:
        out(name, 'Z', z(*msg))
        try:
            out(name, 'M', m(*msg))
        except Exception:
            pass  # msgpack cannot carry big ints or objects
    for name, b in DECODE_ONLY:
        out(name, 'P', b)


main()

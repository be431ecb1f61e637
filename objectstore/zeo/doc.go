// Package zeo is the ZEO 5 wire codec: the framing, handshake and message
// encodings that unmodified Python ZEO 5/6 ClientStorage clients speak. It
// is the foundation of cairn-objectstore (a Go ZEO server) and of a Go ZEO
// client, and does in Go what ZEO's asyncio/smp.py (framing),
// asyncio/marshal.py (encodings) and the handshake parts of
// asyncio/server.py and asyncio/client.py do in Python. It holds no
// storage or connection logic; see /work/shared/docs/zeo-protocol.md for
// what the server layer must do with the messages.
//
// # Layers
//
//   - Frames: Reader and Writer move 4-byte big-endian length-prefixed
//     frames (the length excludes itself). Reader refuses frames over its
//     limit with ErrFrameTooLarge before allocating them; Writer buffers
//     frames until Flush, so a burst of replies costs one write.
//   - Handshake: the server speaks first with its protocol ("Z5" or "M5");
//     the client answers with the encoding letter and
//     min(server version, "5"); the server takes its codec from that
//     answer and accepts only version 5. A client that sends "ruok" asks
//     for JSON status instead (ErrStatusRequest). See ServerHandshake,
//     ClientHandshake, AcceptProtocol and ChooseProtocol.
//   - Messages: every later frame is one (msgid, flags, method, args)
//     tuple, a Message. Calls carry their flag as a bool, replies as an int
//     (2 marks an exception, sent as (class name, __dict__ or args)); the
//     loadBefore msgid is the tuple (oid, tid) and replies echo msgids
//     unchanged. Codec encodes and decodes them under Limits.
//   - Values: the Go types listed in value.go stand for Python values:
//     None, bool, int64 or *big.Int, float64, []byte (bytes), string
//     (str), Tuple, *List, *Dict, Global and *Object. Tuples and lists stay
//     distinct, as ZEO compares tuples; bytes and str stay distinct, as the
//     client decodes Python 2 strings to str.
//
// # Encodings
//
// Pickle ("Z") is what stock ZEO uses. The encoder writes exactly what
// zodbpickle's Pickler(f, 3) in fast mode writes (protocol 3, no memo,
// batches of 1000, the smallest integer opcodes, SHORT_BINBYTES/BINBYTES
// for bytes and BINUNICODE for str), so its output is byte-for-byte
// Python's; the golden tests pin this against bytes produced by ZEO 6.2.
// The decoder reads what Python pickles at protocols 0 to 5 for messages:
// PROTO, FRAME, MARK, STOP, POP, POP_MARK, DUP; NONE, NEWTRUE, NEWFALSE,
// INT, BININT, BININT1, BININT2, LONG, LONG1, LONG4, FLOAT, BINFLOAT;
// SHORT_BINBYTES, BINBYTES, BINBYTES8, SHORT_BINUNICODE, BINUNICODE,
// BINUNICODE8, SHORT_BINSTRING, BINSTRING; EMPTY_TUPLE, TUPLE, TUPLE1-3,
// EMPTY_LIST, LIST, APPEND, APPENDS, EMPTY_DICT, DICT, SETITEM, SETITEMS;
// BINPUT, LONG_BINPUT, PUT, MEMOIZE, BINGET, LONG_BINGET, GET; GLOBAL,
// STACK_GLOBAL, REDUCE, NEWOBJ, OBJ, INST, BUILD. It refuses, with
// ErrUnsupported: persistent ids (PERSID, BINPERSID: ZEO messages have
// none), STRING and UNICODE (protocol 0 text strings), EXT1/2/4,
// NEWOBJ_EX, sets (EMPTY_SET, ADDITEMS, FROZENSET) and protocol 5 buffers.
// Nothing is imported or called: GLOBAL becomes a Global, REDUCE and
// NEWOBJ an *Object, and Plain turns the builtin forms (a dict built by
// builtins.dict, protocol 2's _codecs.encode bytes) into plain values.
//
// Msgpack ("M") is what a ZEO server started with msgpack enabled uses.
// It is written by hand (see msgpack.go for why) and mirrors Python's
// msgpack.packb(use_bin_type=True) byte for byte: bytes as bin, str as
// str, tuples and lists both as arrays, which decode as Tuples since the
// Python client reads arrays as tuples. Globals, objects and integers
// beyond 64 bits cannot be encoded; extension types are refused.
//
// # Limits and hostile input
//
// Decoders never panic (every parser has a fuzz target, seeded from
// testdata/fuzz/), check every announced length against the bytes left
// before allocating, and charge every value, mark and memo entry to
// Limits (defaults DefaultMaxValues, DefaultMaxMemo, DefaultMaxDepth), so
// one message costs memory in proportion to the limits, not to what its
// headers claim. Hashing dict keys is bounded too. Encoders stop at
// Limits.MaxDepth and Limits.MaxEncoded, which also ends cycles and
// exponentially shared values. Errors are sentinels (errors.go); decoders
// wrap theirs in a *DecodeError with the offset.
//
// # Concurrency
//
// Codec is a value and safe for concurrent use. A Reader and a Writer each
// belong to one goroutine: one reader and one ordered writer per
// connection. Decoded values are fresh per call, but a Dict is not safe
// for concurrent mutation.
//
// # Caveats
//
//   - Decoded []byte values share the frame's memory (no copy of large
//     records); do not reuse a frame buffer while its values live.
//   - A pickle with a memo can make decoded values share parts or contain
//     themselves. Stock peers pickle in fast mode and send no memo, but a
//     hostile one can: walk decoded values with depth limits, pass stored
//     values through Plain, and echo only msgids for which ValidID holds.
//   - str values are the UTF-8 bytes Python sent, unvalidated, so they
//     round-trip exactly. Python 2's str opcodes (BINSTRING,
//     SHORT_BINSTRING) decode to string, as ZEO's ASCII unpickler does.
//   - Module names in GLOBAL are kept as sent: protocol 2's __builtin__
//     or copy_reg are not mapped to their Python 3 names.
//   - Python's msgpack refuses map keys other than str and bytes when it
//     decodes, so dicts sent over "M" must use such keys.
//   - Scanning ZODB data records for references (zeo-protocol.md §9)
//     needs persistent ids and noload semantics, which this message codec
//     leaves out.
package zeo

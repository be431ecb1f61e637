package zeo_test

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"math/big"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// Values shared with testdata/golden/gen.py.
var (
	oid1   = []byte{0, 0, 0, 0, 0, 0, 0, 1}
	oid2   = []byte{0, 0, 0, 0, 0, 0, 0, 2}
	z64    = make([]byte, 8)
	maxtid = []byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	tid1   = []byte{0x03, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07}
	tid2   = []byte{0x03, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x08}
	txnid  = int64(140234567890123)
	record = append(seq(256), "record"...)
)

func seq(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i)
	}
	return b
}

type goldenLine struct {
	name, kind string
	data       []byte
}

func readGolden(t testing.TB) []goldenLine {
	f, err := os.Open("testdata/golden/golden.txt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []goldenLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), "#") {
			continue
		}
		fields := strings.Fields(sc.Text())
		if len(fields) != 3 {
			t.Fatalf("bad golden line %q", sc.Text())
		}
		b, err := hex.DecodeString(fields[2])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, goldenLine{fields[0], fields[1], b})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return lines
}

// goldenMessages are the Go values of the messages gen.py encodes.
func goldenMessages() map[string]zeo.Message {
	lb := zeo.Tuple{oid1, maxtid}
	ints := zeo.Tuple{}
	for _, i := range []int64{0, 1, 127, 128, 255, 256, 65535, 65536, -1, -32, -33, -128, -129,
		-32768, -32769, 1<<31 - 1, -1 << 31, 1 << 31, -1<<31 - 1, 1 << 32, 1<<63 - 1, -1 << 63} {
		ints = append(ints, i)
	}
	oids := list()
	for i := 1; i <= 100; i++ {
		oids.Items = append(oids.Items, []byte{0, 0, 0, 0, 0, 0, 0, byte(i)})
	}
	gc := list()
	d1001 := zeo.NewDict(1001)
	for i := range 1001 {
		gc.Items = append(gc.Items, int64(i))
		d1001.SetString(strconv.Itoa(i), int64(i))
	}
	two2048 := new(big.Int).Lsh(big.NewInt(1), 2048)
	return map[string]zeo.Message{
		"heartbeat":          zeo.Heartbeat(),
		"register":           zeo.Call(int64(1), "register", "1", false),
		"loadBefore":         zeo.Call(lb, "loadBefore", oid1, maxtid),
		"loadBefore_reply":   zeo.Reply(lb, zeo.Tuple{record, tid1, zeo.None{}}),
		"loadBefore_none":    zeo.Reply(zeo.Tuple{oid1, tid1}, zeo.None{}),
		"poskeyerror":        zeo.ErrorReply(lb, zeo.POSKeyError(oid1)),
		"tpc_begin":          zeo.AsyncCall("tpc_begin", txnid, []byte("user"), []byte("desc"), dict()),
		"tpc_begin_ext":      zeo.AsyncCall("tpc_begin", txnid, []byte{}, []byte{}, dict("foo", "bar", "n", int64(1))),
		"storea":             zeo.AsyncCall("storea", oid1, z64, record, txnid),
		"storea_none_serial": zeo.AsyncCall("storea", z64, nil, []byte("x"), txnid),
		"vote":               zeo.Call(int64(7), "vote", txnid),
		"vote_reply_empty":   zeo.Reply(int64(7), list()),
		"vote_reply_conflict": zeo.Reply(int64(7), list(
			dict("oid", oid1, "serials", zeo.Tuple{tid2, tid1}, "data", []byte("new")))),
		"tpc_finish_reply": zeo.Reply(int64(8), tid2),
		"invalidate":       zeo.AsyncCall("invalidateTransaction", tid2, list(oid1, oid2)),
		"invalidate_one":   zeo.AsyncCall("invalidateTransaction", tid2, list(oid1)),
		"invalidate_empty": zeo.AsyncCall("invalidateTransaction", tid2, list()),
		"info":             zeo.AsyncCall("info", dict("length", int64(42), "size", int64(123456))),
		"get_info_reply": zeo.Reply(int64(3), dict(
			"length", int64(2), "size", int64(4096), "name", "Data.fs",
			"supportsUndo", true, "supports_record_iternext", true,
			"interfaces", zeo.Tuple{
				zeo.Tuple{"ZODB.interfaces", "IStorage"},
				zeo.Tuple{"zope.interface", "Interface"}})),
		"conflict_error": zeo.ErrorReply(int64(9), zeo.ConflictError(zeo.Conflict{
			OID: oid1, Committed: tid2, Read: tid1})),
		"read_conflict_error": zeo.ErrorReply(int64(9), zeo.ReadConflictError(zeo.Conflict{
			OID: oid1, Committed: tid2, Read: tid1})),
		"read_only_error": zeo.ErrorReply(int64(1), zeo.ReadOnlyError()),
		"storage_transaction_error": zeo.ErrorReply(int64(4),
			zeo.StorageTransactionError("Duplicate tpc_begin calls")),
		"multiple_undo_errors": zeo.ErrorReply(int64(5), zeo.MultipleUndoErrors([]zeo.UndoFailure{
			{OID: oid1, Reason: "non-undoable"}, {OID: oid2, Reason: "conflict"}})),
		"key_error":        zeo.ErrorReply(int64(6), zeo.NewException(zeo.ClassKeyError, int64(5))),
		"new_oids_reply":   zeo.Reply(int64(2), oids),
		"iterator_gc_1001": zeo.AsyncCall("iterator_gc", gc),
		"dict_1001":        zeo.Reply(int64(12), d1001),
		"ints":             zeo.Reply(int64(10), ints),
		"bigints": zeo.Reply(int64(10), zeo.Tuple{
			bigInt("9223372036854775808"), bigInt("-9223372036854775809"),
			bigInt("18446744073709551616"), bigInt("18446744073709551615"),
			bigInt("-18446744073709551616"), two2048, new(big.Int).Neg(two2048), txnid}),
		"floats": zeo.Reply(int64(11), zeo.Tuple{0.0, 1.5, -2.25, 1e300, 1712345678.25}),
		"strings": zeo.Reply(int64(13), zeo.Tuple{
			"", "h\u00e9llo \u2603", strings.Repeat("x", 31), strings.Repeat("y", 32),
			strings.Repeat("z", 255), strings.Repeat("w", 256),
			[]byte{}, bytes.Repeat([]byte{0xff}, 255), bytes.Repeat([]byte{0xee}, 256)}),
		"nested": zeo.Reply(int64(14), zeo.Tuple{
			zeo.Tuple{int64(1), zeo.Tuple{int64(2), zeo.Tuple{int64(3), zeo.Tuple{int64(4), zeo.Tuple{int64(5)}}}}},
			list(list(), list(list())),
			dict("a", dict("b", dict())),
			zeo.Tuple{true, false, zeo.None{}}}),
		"tuple_keys": zeo.Reply(int64(15), dict(
			zeo.Tuple{int64(1), int64(2)}, "x", []byte("k"), "y", int64(3), "z")),
		"undoInfo_prefix": zeo.Call(int64(16), "undoInfo", int64(0), int64(20), dict(
			"user_name", &zeo.Object{
				Class: zeo.Global{Module: "ZopeUndo.Prefix", Name: "Prefix"},
				Args:  zeo.Tuple{}, New: true,
				State: dict("length", int64(3), "path", list("", "plone", "site")),
			})),
		"extension_reduce": zeo.AsyncCall("tpc_begin", txnid, []byte("u"), []byte("d"), &zeo.Object{
			Class: zeo.Global{Module: "builtins", Name: "dict"},
			Args:  zeo.Tuple{zeo.Tuple{zeo.Tuple{"a", int64(1)}, zeo.Tuple{"b", "two"}}},
		}),
		"extension_ordered": zeo.AsyncCall("tpc_begin", txnid, []byte("u"), []byte("d"), &zeo.Object{
			Class:     zeo.Global{Module: "collections", Name: "OrderedDict"},
			Args:      zeo.Tuple{},
			DictItems: dict("x", int64(1), "y", int64(2)),
		}),
	}
}

// msgpackOverrides are the messages whose msgpack form differs from the
// pickle one by more than lists becoming tuples.
func msgpackOverrides() map[string]zeo.Message {
	return map[string]zeo.Message{
		"extension_reduce": zeo.AsyncCall("tpc_begin", txnid, []byte("u"), []byte("d"),
			dict("a", int64(1), "b", "two")),
		"extension_ordered": zeo.AsyncCall("tpc_begin", txnid, []byte("u"), []byte("d"),
			dict("x", int64(1), "y", int64(2))),
	}
}

// TestGoldenMessages checks every message against the bytes Python ZEO
// produced: decoding gives the expected value, encoding gives the same
// bytes.
func TestGoldenMessages(t *testing.T) {
	want := goldenMessages()
	overrides := msgpackOverrides()
	seen := map[string]bool{}
	for _, g := range readGolden(t) {
		if g.kind == "P" {
			continue
		}
		seen[g.name] = true
		t.Run(g.name+"/"+g.kind, func(t *testing.T) {
			m, ok := want[g.name]
			if !ok {
				t.Fatalf("no Go value for golden %q", g.name)
			}
			enc := zeo.Encoding(g.kind[0])
			wantValue := any(msgTuple(m))
			if enc == zeo.Msgpack {
				if o, ok := overrides[g.name]; ok {
					m = o
				}
				wantValue = tuplesOnly(msgTuple(m))
			}
			got, err := zeo.DecodeMessage(enc, g.data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !equal(msgTuple(got), wantValue) {
				t.Errorf("decode:\n got %s\nwant %s", got, zeo.Repr(wantValue))
			}
			b, err := m.Encode(enc)
			if err != nil {
				t.Fatalf("encode: %v", err)
			}
			if !bytes.Equal(b, g.data) {
				t.Errorf("encode:\n got %x\nwant %x", b, g.data)
			}
		})
	}
	for name := range want {
		if !seen[name] {
			t.Errorf("golden file lacks %q", name)
		}
	}
}

// TestGoldenDecodeOnly decodes pickles that the standard library wrote
// with the memo and protocols 0 to 5.
func TestGoldenDecodeOnly(t *testing.T) {
	shared := list(int64(1), int64(2))
	pk := func(b string) any {
		return &zeo.Object{Class: zeo.Global{Module: "_codecs", Name: "encode"}, Args: zeo.Tuple{b, "latin1"}}
	}
	want := map[string]any{
		"memo_p3": zeo.Tuple{int64(1), false, "m", zeo.Tuple{shared, shared, "abc", "abc"}},
		"proto2": zeo.Tuple{int64(2), false, "m", zeo.Tuple{
			pk(string(oid1)), "str", list(1.5),
			dict("k", &zeo.Object{Class: zeo.Global{Module: "__builtin__", Name: "bytes"}, Args: zeo.Tuple{}})}},
		"proto4": zeo.Tuple{int64(3), false, "m", zeo.Tuple{oid1, "str", list(1.5), dict("k", []byte{}),
			zeo.Global{Module: "ZODB.POSException", Name: "POSKeyError"}}},
		"proto5": zeo.Tuple{int64(4), int64(0), ".reply", zeo.Tuple{bytes.Repeat([]byte("x"), 300), strings.Repeat("long", 20)}},
		"proto1": zeo.Tuple{int64(5), false, "m", zeo.Tuple{int64(1), int64(-70000), bigInt("1180591620717411303424"),
			list(nil, 2.5), dict("a", zeo.Tuple{int64(1)})}},
		"proto0_numbers": zeo.Tuple{int64(6), list(int64(7), int64(-8), bigInt("1180591620717411303424"), 0.5, nil, true),
			dict(int64(9), zeo.Tuple{int64(10)})},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, g := range readGolden(t) {
		if g.kind != "P" {
			continue
		}
		t.Run(g.name, func(t *testing.T) {
			got, err := c.Unmarshal(g.data)
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if !equal(got, want[g.name]) {
				t.Errorf("got  %s\nwant %s", zeo.Repr(got), zeo.Repr(want[g.name]))
			}
		})
	}
}

// TestGoldenMemoAliases checks that memo references decode to the same
// list, as in Python.
func TestGoldenMemoAliases(t *testing.T) {
	for _, g := range readGolden(t) {
		if g.name != "memo_p3" {
			continue
		}
		v, err := zeo.Codec{Encoding: zeo.Pickle}.Unmarshal(g.data)
		if err != nil {
			t.Fatal(err)
		}
		args := v.(zeo.Tuple)[3].(zeo.Tuple)
		if args[0].(*zeo.List) != args[1].(*zeo.List) {
			t.Errorf("memo reference decoded to a copy")
		}
	}
}

// TestGoldenPlain checks that Plain turns protocol 2's bytes and the
// extension dict forms into plain values.
func TestGoldenPlain(t *testing.T) {
	want := map[string]any{
		"proto2": zeo.Tuple{int64(2), false, "m", zeo.Tuple{oid1, "str", list(1.5), dict("k", []byte{})}},
		"extension_reduce": zeo.Tuple{int64(0), true, "tpc_begin", zeo.Tuple{txnid, []byte("u"), []byte("d"),
			dict("a", int64(1), "b", "two")}},
		"extension_ordered": zeo.Tuple{int64(0), true, "tpc_begin", zeo.Tuple{txnid, []byte("u"), []byte("d"),
			dict("x", int64(1), "y", int64(2))}},
	}
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, g := range readGolden(t) {
		w, ok := want[g.name]
		if !ok || g.kind == "M" {
			continue
		}
		v, err := c.Unmarshal(g.data)
		if err != nil {
			t.Fatal(err)
		}
		p, err := zeo.Plain(v, zeo.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if !equal(p, w) {
			t.Errorf("%s: got %s\nwant %s", g.name, zeo.Repr(p), zeo.Repr(w))
		}
	}
}

package zeo_test

import (
	"errors"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestMessageKinds(t *testing.T) {
	tests := []struct {
		name                         string
		m                            zeo.Message
		heartbeat, reply, async, err bool
	}{
		{"heartbeat", zeo.Heartbeat(), true, true, false, false},
		{"call", zeo.Call(int64(1), "ping"), false, false, false, false},
		{"async call", zeo.AsyncCall("storea"), false, false, true, false},
		{"reply", zeo.Reply(int64(1), nil), false, true, false, false},
		{"error reply", zeo.ErrorReply(int64(1), zeo.ReadOnlyError()), false, true, false, true},
		{"tuple id", zeo.Call(zeo.Tuple{oid1, maxtid}, "loadBefore"), false, false, false, false},
	}
	for _, tt := range tests {
		m := tt.m
		if m.IsHeartbeat() != tt.heartbeat || m.IsReply() != tt.reply || m.IsAsync() != tt.async || m.IsError() != tt.err {
			t.Errorf("%s: heartbeat %v reply %v async %v error %v", tt.name,
				m.IsHeartbeat(), m.IsReply(), m.IsAsync(), m.IsError())
		}
	}
}

// TestMessageFlagEncoding checks the flag's Python type: bool on calls,
// int on replies.
func TestMessageFlagEncoding(t *testing.T) {
	tests := []struct {
		m    zeo.Message
		flag any
	}{
		{zeo.Call(int64(1), "ping"), false},
		{zeo.AsyncCall("info"), true},
		{zeo.Reply(int64(1), nil), int64(0)},
		{zeo.ErrorReply(int64(1), zeo.ReadOnlyError()), int64(2)},
		{zeo.Message{ID: int64(1), Flag: 5, Method: "odd"}, int64(5)},
	}
	for _, enc := range []zeo.Encoding{zeo.Pickle, zeo.Msgpack} {
		c := zeo.Codec{Encoding: enc}
		for _, tt := range tests {
			b, err := c.Encode(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			v, err := c.Unmarshal(b)
			if err != nil {
				t.Fatal(err)
			}
			if got := v.(zeo.Tuple)[1]; !equal(got, tt.flag) {
				t.Errorf("%v %s: flag encoded as %s; want %s", enc, tt.m, zeo.Repr(got), zeo.Repr(tt.flag))
			}
			back, err := c.Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if back.Flag != tt.m.Flag || back.Method != tt.m.Method {
				t.Errorf("%v %s: decoded %s", enc, tt.m, back)
			}
		}
	}
}

func TestDecodeMessageErrors(t *testing.T) {
	c := zeo.Codec{Encoding: zeo.Pickle}
	for _, v := range []any{
		int64(1),
		zeo.Tuple{int64(1), false, "m"},
		zeo.Tuple{int64(1), "false", "m", zeo.Tuple{}},
		zeo.Tuple{int64(1), false, []byte("m"), zeo.Tuple{}},
	} {
		b, err := c.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.Decode(b); !errors.Is(err, zeo.ErrBadMessage) {
			t.Errorf("Decode(%s): %v; want ErrBadMessage", zeo.Repr(v), err)
		}
	}
	// Python unpacks any 4-item sequence, so a list is accepted.
	b, _ := c.Marshal(list(int64(1), false, "m", zeo.Tuple{}))
	if m, err := c.Decode(b); err != nil || m.Method != "m" {
		t.Errorf("list message: %v, %v", m, err)
	}
	if _, err := c.Decode([]byte("\xff")); !errors.Is(err, zeo.ErrUnsupported) {
		t.Errorf("garbage: %v", err)
	}
}

func TestExceptionPayloads(t *testing.T) {
	reply := zeo.ErrorReply(int64(9), zeo.ConflictError(zeo.Conflict{OID: oid1, Committed: tid2, Read: tid1, ClassName: "BTrees.Length.Length"}))
	b, err := reply.Encode(zeo.Pickle)
	if err != nil {
		t.Fatal(err)
	}
	m, err := zeo.DecodeMessage(zeo.Pickle, b)
	if err != nil {
		t.Fatal(err)
	}
	e, err := m.Exception()
	if err != nil {
		t.Fatal(err)
	}
	c, ok := e.Conflict()
	if !ok || e.Class != zeo.ClassConflictError {
		t.Fatalf("Conflict() of %v not ok", e)
	}
	if c.Message != "database conflict error" || string(c.OID) != string(oid1) ||
		string(c.Committed) != string(tid2) || string(c.Read) != string(tid1) || c.ClassName != "BTrees.Length.Length" {
		t.Errorf("got %+v", c)
	}
	if _, err := zeo.Reply(int64(1), nil).Exception(); !errors.Is(err, zeo.ErrBadMessage) {
		t.Errorf("Exception() of a normal reply: %v", err)
	}
	if _, err := zeo.ParseException(zeo.Tuple{int64(1), zeo.Tuple{}}); !errors.Is(err, zeo.ErrBadMessage) {
		t.Errorf("ParseException with an int class: %v", err)
	}
	if _, ok := zeo.POSKeyError(oid1).Conflict(); ok {
		t.Errorf("POSKeyError has no conflict payload")
	}
	if got := zeo.POSKeyError(oid1).Error(); got != `zeo: remote ZODB.POSException.POSKeyError: (b'\x00\x00\x00\x00\x00\x00\x00\x01',)` {
		t.Errorf("Error() = %s", got)
	}
	empty := zeo.MultipleUndoErrors(nil)
	if v, _ := empty.Args.(*zeo.Dict).Get("_errs"); !equal(v, list()) {
		t.Errorf("MultipleUndoErrors(nil) _errs = %s", zeo.Repr(v))
	}
}

func TestValidID(t *testing.T) {
	for _, id := range []any{int64(1), int64(-1), 3, zeo.Tuple{oid1, tid1}} {
		if !zeo.ValidID(id) {
			t.Errorf("ValidID(%s) = false", zeo.Repr(id))
		}
	}
	for _, id := range []any{nil, "1", zeo.Tuple{oid1}, zeo.Tuple{oid1, "x"}, list(oid1, tid1), zeo.Tuple{zeo.Tuple{}, zeo.Tuple{}}} {
		if zeo.ValidID(id) {
			t.Errorf("ValidID(%s) = true", zeo.Repr(id))
		}
	}
}

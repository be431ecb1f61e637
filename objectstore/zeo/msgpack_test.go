package zeo_test

import (
	"bytes"
	"errors"
	"math"
	"math/big"
	"runtime"
	"strings"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func TestMsgpackDecode(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want any
	}{
		{"nil", "\xc0", zeo.None{}},
		{"false", "\xc2", false},
		{"true", "\xc3", true},
		{"fixint", "\x7f", int64(127)},
		{"negative fixint", "\xe0", int64(-32)},
		{"uint8", "\xcc\xff", int64(255)},
		{"uint16", "\xcd\x01\x00", int64(256)},
		{"uint32", "\xce\x00\x01\x00\x00", int64(65536)},
		{"uint64", "\xcf\x7f\xff\xff\xff\xff\xff\xff\xff", int64(math.MaxInt64)},
		{"uint64 big", "\xcf\xff\xff\xff\xff\xff\xff\xff\xff", new(big.Int).SetUint64(math.MaxUint64)},
		{"int8", "\xd0\x80", int64(-128)},
		{"int16", "\xd1\x80\x00", int64(math.MinInt16)},
		{"int32", "\xd2\x80\x00\x00\x00", int64(math.MinInt32)},
		{"int64", "\xd3\x80\x00\x00\x00\x00\x00\x00\x00", int64(math.MinInt64)},
		{"float32", "\xca\x3f\xc0\x00\x00", 1.5},
		{"float64", "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00", 1.5},
		{"fixstr", "\xa2hi", "hi"},
		{"str8", "\xd9\x02hi", "hi"},
		{"str16", "\xda\x00\x02hi", "hi"},
		{"str32", "\xdb\x00\x00\x00\x02hi", "hi"},
		{"bin8", "\xc4\x02hi", []byte("hi")},
		{"bin16", "\xc5\x00\x02hi", []byte("hi")},
		{"bin32", "\xc6\x00\x00\x00\x02hi", []byte("hi")},
		{"fixarray", "\x92\x01\x02", zeo.Tuple{int64(1), int64(2)}},
		{"array16", "\xdc\x00\x01\x01", zeo.Tuple{int64(1)}},
		{"array32", "\xdd\x00\x00\x00\x01\x01", zeo.Tuple{int64(1)}},
		{"fixmap", "\x81\xa1k\x01", dict("k", int64(1))},
		{"map16", "\xde\x00\x01\xa1k\x01", dict("k", int64(1))},
		{"map32", "\xdf\x00\x00\x00\x01\xa1k\x01", dict("k", int64(1))},
		{"array key", "\x81\x92\x01\x02\xc0", dict(zeo.Tuple{int64(1), int64(2)}, nil)},
		{"repeated key", "\x82\x01\x02\x01\x03", dict(int64(1), int64(3))},
	}
	c := zeo.Codec{Encoding: zeo.Msgpack}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Unmarshal([]byte(tt.in))
			if err != nil {
				t.Fatalf("Unmarshal(%q): %v", tt.in, err)
			}
			if !equal(got, tt.want) {
				t.Errorf("Unmarshal(%q) = %s; want %s", tt.in, zeo.Repr(got), zeo.Repr(tt.want))
			}
		})
	}
}

func TestMsgpackDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		lim  zeo.Limits
		in   string
		want error
	}{
		{"empty", zeo.Limits{}, "", zeo.ErrTruncated},
		{"truncated uint32", zeo.Limits{}, "\xce\x00", zeo.ErrTruncated},
		{"huge str32", zeo.Limits{}, "\xdb\xff\xff\xff\xff", zeo.ErrTruncated},
		{"huge array32", zeo.Limits{}, "\xdd\xff\xff\xff\xff\xc0", zeo.ErrTruncated},
		{"huge map32", zeo.Limits{}, "\xdf\xff\xff\xff\xff\xc0\xc0", zeo.ErrTruncated},
		{"array short", zeo.Limits{}, "\x93\x01\x02", zeo.ErrTruncated},
		{"never used", zeo.Limits{}, "\xc1", zeo.ErrMalformed},
		{"trailing", zeo.Limits{}, "\xc0\xc0", zeo.ErrMalformed},
		{"ext8", zeo.Limits{}, "\xc7\x01\x01\x00", zeo.ErrUnsupported},
		{"fixext1 timestamp", zeo.Limits{}, "\xd4\xff\x00", zeo.ErrUnsupported},
		{"map key", zeo.Limits{}, "\x81\x80\xc0", zeo.ErrUnhashable},
		{"depth", zeo.Limits{MaxDepth: 10}, strings.Repeat("\x91", 20) + "\xc0", zeo.ErrLimit},
		{"values", zeo.Limits{MaxValues: 3}, "\x94\xc0\xc0\xc0\xc0", zeo.ErrLimit},
		// A count past the values the limit allows is refused before
		// anything is allocated for it.
		{"array32 past the values", zeo.Limits{MaxValues: 100}, "\xdd\x00\x00\x01\x00" + strings.Repeat("\xc0", 256), zeo.ErrLimit},
		{"map32 past the values", zeo.Limits{MaxValues: 100}, "\xdf\x00\x00\x01\x00" + strings.Repeat("\xc0", 512), zeo.ErrLimit},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := zeo.Codec{Encoding: zeo.Msgpack, Limits: tt.lim}.Unmarshal([]byte(tt.in))
			if !errors.Is(err, tt.want) {
				t.Fatalf("Unmarshal(%q): %v; want %v", tt.in, err, tt.want)
			}
		})
	}
}

// TestMsgpackAllocationFollowsInput: a map or array header announcing
// millions of items in a frame that holds them only as nil bytes costs
// about what the frame does, not 45 times it.
func TestMsgpackAllocationFollowsInput(t *testing.T) {
	in := []byte("\xdf\x00\x10\x00\x00" + strings.Repeat("\xc0", 2<<20)) // map32 of 1Mi items, all nil: None
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	v, err := zeo.Codec{Encoding: zeo.Msgpack}.Unmarshal(in)
	runtime.ReadMemStats(&after)
	if d, ok := v.(*zeo.Dict); err != nil || !ok || d.Len() != 1 {
		t.Fatalf("decoded %T, %v; want a dict of one item (None: None)", v, err)
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 64<<20 {
		t.Errorf("decoding a %d-byte frame allocated %d MiB", len(in), got>>20)
	}
}

func TestMsgpackEncode(t *testing.T) {
	tests := []struct {
		name string
		in   any
		want string
	}{
		{"nil", nil, "\xc0"},
		{"uint64 max", uint64(math.MaxUint64), "\xcf\xff\xff\xff\xff\xff\xff\xff\xff"},
		{"big uint64", new(big.Int).SetUint64(1 << 63), "\xcf\x80\x00\x00\x00\x00\x00\x00\x00"},
		{"int64 min", int64(math.MinInt64), "\xd3\x80\x00\x00\x00\x00\x00\x00\x00"},
		{"float32", float32(1.5), "\xcb\x3f\xf8\x00\x00\x00\x00\x00\x00"},
		{"list", list(1), "\x91\x01"},
		{"array16", make(zeo.Tuple, 16), "\xdc\x00\x10" + strings.Repeat("\xc0", 16)},
		{"str16", strings.Repeat("a", 256), "\xda\x01\x00" + strings.Repeat("a", 256)},
		{"bin16", bytes.Repeat([]byte("a"), 256), "\xc5\x01\x00" + strings.Repeat("a", 256)},
		{"bin32", bytes.Repeat([]byte("a"), 65536), "\xc6\x00\x01\x00\x00" + strings.Repeat("a", 65536)},
		{"str32", strings.Repeat("a", 65536), "\xdb\x00\x01\x00\x00" + strings.Repeat("a", 65536)},
	}
	c := zeo.Codec{Encoding: zeo.Msgpack}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.Marshal(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("Marshal(%s) = %q; want %q", zeo.Repr(tt.in), got, tt.want)
			}
		})
	}
	for _, v := range []any{
		zeo.Global{Module: "m", Name: "C"},
		&zeo.Object{Class: zeo.Global{Module: "m", Name: "C"}},
		new(big.Int).Lsh(big.NewInt(1), 64),
		bigInt("-9223372036854775809"),
	} {
		if _, err := c.Marshal(v); !errors.Is(err, zeo.ErrUnsupportedType) {
			t.Errorf("Marshal(%s): %v; want ErrUnsupportedType", zeo.Repr(v), err)
		}
	}
}

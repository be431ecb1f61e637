package zeo_test

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// Seeds live in testdata/fuzz/<target>/ (the golden messages, framed for
// FuzzReadFrame, and every crasher found so far).

// fuzzLimits keep one fuzz input cheap.
var fuzzLimits = zeo.Limits{MaxValues: 1 << 16, MaxMemo: 1 << 12, MaxEncoded: 1 << 20}

// decodeSentinels are the errors a decoder may return.
var decodeSentinels = []error{zeo.ErrTruncated, zeo.ErrMalformed, zeo.ErrUnsupported, zeo.ErrLimit, zeo.ErrUnhashable}

func checkDecodeError(t *testing.T, err error) {
	t.Helper()
	var de *zeo.DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v is not a *DecodeError", err)
	}
	for _, s := range decodeSentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no decoding sentinel", err)
}

func FuzzReadFrame(f *testing.F) {
	const max = 1 << 16
	f.Fuzz(func(t *testing.T, data []byte) {
		r := zeo.NewReader(bytes.NewReader(data), max)
		var out bytes.Buffer
		w := zeo.NewWriter(&out)
		for {
			p, err := r.ReadFrame()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF && !errors.Is(err, zeo.ErrFrameTooLarge) {
					t.Fatalf("unexpected error %v", err)
				}
				break
			}
			if len(p) > max {
				t.Fatalf("frame of %d bytes over the limit", len(p))
			}
			if err := w.WriteFrame(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(data, out.Bytes()) {
			t.Fatalf("frames re-encoded to %x, not a prefix of the input", out.Bytes())
		}
	})
}

func FuzzUnpickle(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCodec(t, zeo.Codec{Encoding: zeo.Pickle, Limits: fuzzLimits}, data)
	})
}

func FuzzMsgpack(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzCodec(t, zeo.Codec{Encoding: zeo.Msgpack, Limits: fuzzLimits}, data)
	})
}

// fuzzCodec decodes data; whatever decodes must survive the helpers,
// re-encode (unless it is too big or deep to) and decode to an equal value,
// and encoding must then be stable.
func fuzzCodec(t *testing.T, c zeo.Codec, data []byte) {
	v, err := c.Unmarshal(data)
	if err != nil {
		checkDecodeError(t, err)
		return
	}
	_ = zeo.Repr(v)
	_, _ = zeo.HashKey(v)
	_, _ = zeo.Plain(v, fuzzLimits)
	if m, err := c.Decode(data); err == nil {
		_ = m.String()
		_, _ = m.Exception()
	}
	b, err := c.Marshal(v)
	if err != nil {
		if !errors.Is(err, zeo.ErrLimit) {
			t.Fatalf("Marshal(%s): %v", zeo.Repr(v), err)
		}
		return
	}
	v2, err := c.Unmarshal(b)
	if err != nil {
		t.Fatalf("re-decoding %x: %v", b, err)
	}
	if !equal(v, v2) {
		t.Fatalf("round trip changed %s into %s", zeo.Repr(v), zeo.Repr(v2))
	}
	b2, err := c.Marshal(v2)
	if err != nil || !bytes.Equal(b, b2) {
		t.Fatalf("encoding is not stable: %x then %x (%v)", b, b2, err)
	}
}

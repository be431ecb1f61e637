package zeo

import (
	"fmt"
	"math"
	"math/big"
)

// unpacker reads msgpack as ZEO's client does (unpackb(raw=False,
// use_list=False)): arrays become tuples, str becomes string, bin []byte.
// It recurses, bounded by Limits.MaxDepth, and checks every count against
// the bytes left before allocating.
type unpacker struct {
	data      []byte
	pos       int
	lim       Limits
	values    int // values still allowed
	keyBudget int
}

func unpackMsgpack(data []byte, lim Limits) (any, error) {
	u := &unpacker{data: data, lim: lim, values: lim.MaxValues, keyBudget: 16*len(data) + maxKeyBytes}
	v, err := u.value(0)
	if err != nil {
		return nil, err
	}
	if u.pos != len(data) {
		return nil, u.fail(u.pos, ErrMalformed, "%d bytes after the value", len(data)-u.pos)
	}
	return v, nil
}

func (u *unpacker) fail(at int, kind error, format string, args ...any) error {
	return &DecodeError{Encoding: Msgpack, Offset: at, Detail: fmt.Sprintf(format, args...), Err: kind}
}

func (u *unpacker) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.fail(u.pos, ErrTruncated, "needs %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+int(n) : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

// uint reads a big-endian unsigned integer of 1, 2, 4 or 8 bytes.
func (u *unpacker) uint(size int) (uint64, error) {
	b, err := u.take(uint64(size))
	if err != nil {
		return 0, err
	}
	var v uint64
	for _, c := range b {
		v = v<<8 | uint64(c)
	}
	return v, nil
}

func (u *unpacker) value(depth int) (any, error) {
	start := u.pos
	if depth > u.lim.MaxDepth {
		return nil, u.fail(start, ErrLimit, "nesting deeper than %d", u.lim.MaxDepth)
	}
	if u.values--; u.values < 0 {
		return nil, u.fail(start, ErrLimit, "more than %d values", u.lim.MaxValues)
	}
	if u.pos >= len(u.data) {
		return nil, u.fail(start, ErrTruncated, "input ends before a value")
	}
	b := u.data[u.pos]
	u.pos++
	switch {
	case b <= 0x7f:
		return int64(b), nil
	case b >= 0xe0:
		return int64(int8(b)), nil
	case b&0xe0 == 0xa0:
		return u.str(uint64(b & 0x1f))
	case b&0xf0 == 0x90:
		return u.array(uint64(b&0x0f), depth)
	case b&0xf0 == 0x80:
		return u.dict(uint64(b&0x0f), depth)
	}
	return u.typed(b, start, depth)
}

// typed decodes the values whose first byte is a type code (0xc0-0xdf).
func (u *unpacker) typed(b byte, start, depth int) (any, error) {
	switch b {
	case 0xc0:
		return None{}, nil
	case 0xc2:
		return false, nil
	case 0xc3:
		return true, nil
	case 0xc4, 0xc5, 0xc6:
		n, err := u.uint(1 << (b - 0xc4))
		if err != nil {
			return nil, err
		}
		return u.take(n)
	case 0xca:
		v, err := u.uint(4)
		return float64(math.Float32frombits(uint32(v))), err
	case 0xcb:
		v, err := u.uint(8)
		return math.Float64frombits(v), err
	case 0xcc, 0xcd, 0xce, 0xcf:
		v, err := u.uint(1 << (b - 0xcc))
		if err == nil && v > math.MaxInt64 {
			return new(big.Int).SetUint64(v), nil
		}
		return int64(v), err
	case 0xd0, 0xd1, 0xd2, 0xd3:
		size := 1 << (b - 0xd0)
		v, err := u.uint(size)
		shift := 64 - 8*uint(size)
		return int64(v<<shift) >> shift, err
	case 0xd9, 0xda, 0xdb:
		n, err := u.uint(1 << (b - 0xd9))
		if err != nil {
			return nil, err
		}
		return u.str(n)
	case 0xdc, 0xdd:
		n, err := u.uint(2 << (b - 0xdc))
		if err != nil {
			return nil, err
		}
		return u.array(n, depth)
	case 0xde, 0xdf:
		n, err := u.uint(2 << (b - 0xde))
		if err != nil {
			return nil, err
		}
		return u.dict(n, depth)
	case 0xc7, 0xc8, 0xc9, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8:
		return nil, u.fail(start, ErrUnsupported, "extension type 0x%02x", b)
	}
	return nil, u.fail(start, ErrMalformed, "never-used type code 0x%02x", b)
}

func (u *unpacker) str(n uint64) (any, error) {
	b, err := u.take(n)
	if err != nil {
		return nil, err
	}
	return string(b), nil
}

// array decodes n values into a Tuple. Every value takes at least one
// byte, so a count beyond the bytes left is refused before allocating, and
// so is one beyond the values the limit still allows: a Tuple slot is 16
// bytes per input byte, a map item far more, and a 16 MiB frame made the
// decoder allocate 700 MiB before its value count ran out.
func (u *unpacker) array(n uint64, depth int) (any, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.fail(u.pos, ErrTruncated, "array of %d items, %d bytes left", n, len(u.data)-u.pos)
	}
	if n > uint64(max(u.values, 0)) {
		return nil, u.fail(u.pos, ErrLimit, "array of %d items, more than the %d values left", n, u.values)
	}
	// Grown as values come, not allocated from the count: what a message
	// costs follows what it holds.
	t := make(Tuple, 0, min(n, preallocated))
	for range n {
		v, err := u.value(depth + 1)
		if err != nil {
			return nil, err
		}
		t = append(t, v)
	}
	return t, nil
}

// preallocated is the most items an array or map is given room for
// before they arrive.
const preallocated = 1024

func (u *unpacker) dict(n uint64, depth int) (any, error) {
	if n > uint64(len(u.data)-u.pos)/2 {
		return nil, u.fail(u.pos, ErrTruncated, "map of %d items, %d bytes left", n, len(u.data)-u.pos)
	}
	if n > uint64(max(u.values, 0))/2 {
		return nil, u.fail(u.pos, ErrLimit, "map of %d items, more than the %d values left", n, u.values)
	}
	d := NewDict(int(min(n, preallocated)))
	for range n {
		at := u.pos
		k, err := u.value(depth + 1)
		if err != nil {
			return nil, err
		}
		v, err := u.value(depth + 1)
		if err != nil {
			return nil, err
		}
		h, err := appendKey(nil, k, &u.keyBudget)
		if err != nil {
			return nil, u.fail(at, errKind(err), "map key: %v", err)
		}
		d.setHashed(string(h), k, v)
	}
	return d, nil
}

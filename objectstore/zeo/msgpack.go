package zeo

import (
	"encoding/binary"
	"fmt"
	"math"
)

// The msgpack variant is written by hand: ZEO uses a small, fixed subset
// (nil, bool, int, float64, str, bin, array, map; no extension types), the
// module may not take new dependencies for it, and owning the code lets it
// mirror Python's packb(use_bin_type=True) byte for byte and share the
// pickle codec's value set and hostile-input limits.

// packer writes values as Python's msgpack.packb(v, use_bin_type=True):
// the smallest integer form, str8 enabled, bin for bytes, float64 only.
type packer struct {
	buf []byte
	lim Limits
}

func appendMsgpack(dst []byte, v any, lim Limits) ([]byte, error) {
	p := &packer{buf: dst, lim: lim}
	if err := p.value(v, 0); err != nil {
		return nil, err
	}
	if len(p.buf) > lim.MaxEncoded {
		return nil, fmt.Errorf("%w: encoding longer than %d bytes", ErrLimit, lim.MaxEncoded)
	}
	return p.buf, nil
}

func (p *packer) value(v any, depth int) error {
	if depth > p.lim.MaxDepth {
		return fmt.Errorf("%w: nesting deeper than %d", ErrLimit, p.lim.MaxDepth)
	}
	if len(p.buf) > p.lim.MaxEncoded {
		return fmt.Errorf("%w: encoding longer than %d bytes", ErrLimit, p.lim.MaxEncoded)
	}
	if isNilPointer(v) {
		return fmt.Errorf("%w: nil %T", ErrUnsupportedType, v)
	}
	switch x := v.(type) {
	case nil, None:
		p.buf = append(p.buf, 0xc0)
	case bool:
		if x {
			p.buf = append(p.buf, 0xc3)
		} else {
			p.buf = append(p.buf, 0xc2)
		}
	case float64:
		p.buf = binary.BigEndian.AppendUint64(append(p.buf, 0xcb), math.Float64bits(x))
	case float32:
		p.buf = binary.BigEndian.AppendUint64(append(p.buf, 0xcb), math.Float64bits(float64(x)))
	case string:
		return packRaw(p, x, true)
	case []byte:
		return packRaw(p, x, false)
	case Tuple:
		return p.array(x, depth)
	case *List:
		return p.array(x.Items, depth)
	case List:
		return p.array(x.Items, depth)
	case *Dict:
		return p.dict(x, depth)
	case Global, *Object:
		return fmt.Errorf("%w: msgpack cannot carry a Python %s", ErrUnsupportedType, typeName(v))
	default:
		return p.integer(v)
	}
	return nil
}

// integer writes the smallest msgpack integer, as msgpack's packer does;
// integers beyond 64 bits are refused, as Python's OverflowError.
func (p *packer) integer(v any) error {
	if i, ok := AsInt64(v); ok {
		switch {
		case i >= 0:
			p.uint(uint64(i))
		case i >= -32:
			p.buf = append(p.buf, byte(int8(i)))
		case i >= math.MinInt8:
			p.buf = append(p.buf, 0xd0, byte(int8(i)))
		case i >= math.MinInt16:
			p.buf = binary.BigEndian.AppendUint16(append(p.buf, 0xd1), uint16(i))
		case i >= math.MinInt32:
			p.buf = binary.BigEndian.AppendUint32(append(p.buf, 0xd2), uint32(i))
		default:
			p.buf = binary.BigEndian.AppendUint64(append(p.buf, 0xd3), uint64(i))
		}
		return nil
	}
	if b, ok := asBigInt(v); ok && b.Sign() > 0 && b.IsUint64() {
		p.uint(b.Uint64())
		return nil
	}
	return fmt.Errorf("%w: %s does not fit msgpack's 64-bit integers", ErrUnsupportedType, Repr(v))
}

func (p *packer) uint(u uint64) {
	switch {
	case u < 0x80:
		p.buf = append(p.buf, byte(u))
	case u <= math.MaxUint8:
		p.buf = append(p.buf, 0xcc, byte(u))
	case u <= math.MaxUint16:
		p.buf = binary.BigEndian.AppendUint16(append(p.buf, 0xcd), uint16(u))
	case u <= math.MaxUint32:
		p.buf = binary.BigEndian.AppendUint32(append(p.buf, 0xce), uint32(u))
	default:
		p.buf = binary.BigEndian.AppendUint64(append(p.buf, 0xcf), u)
	}
}

// header writes a length with the fix form (if fixMax > 0) or the 8, 16
// or 32-bit form (a zero code skips the 8-bit form).
func (p *packer) header(n int, fix byte, fixMax int, c8, c16, c32 byte) error {
	switch {
	case n < fixMax:
		p.buf = append(p.buf, fix|byte(n))
	case c8 != 0 && n <= math.MaxUint8:
		p.buf = append(p.buf, c8, byte(n))
	case n <= math.MaxUint16:
		p.buf = binary.BigEndian.AppendUint16(append(p.buf, c16), uint16(n))
	case uint64(n) <= math.MaxUint32:
		p.buf = binary.BigEndian.AppendUint32(append(p.buf, c32), uint32(n))
	default:
		return fmt.Errorf("%w: %d items or bytes", ErrLimit, n)
	}
	return nil
}

// packRaw writes str (fixstr, str8/16/32) or bin (bin8/16/32).
func packRaw[T ~string | ~[]byte](p *packer, b T, isStr bool) error {
	if len(b) > p.lim.MaxEncoded-len(p.buf) {
		return fmt.Errorf("%w: %d-byte payload", ErrLimit, len(b))
	}
	var err error
	if isStr {
		err = p.header(len(b), 0xa0, 32, 0xd9, 0xda, 0xdb)
	} else {
		err = p.header(len(b), 0, 0, 0xc4, 0xc5, 0xc6)
	}
	p.buf = append(p.buf, b...)
	return err
}

func (p *packer) array(items []any, depth int) error {
	if err := p.header(len(items), 0x90, 16, 0, 0xdc, 0xdd); err != nil {
		return err
	}
	for _, e := range items {
		if err := p.value(e, depth+1); err != nil {
			return err
		}
	}
	return nil
}

func (p *packer) dict(d *Dict, depth int) error {
	if err := p.header(d.Len(), 0x80, 16, 0, 0xde, 0xdf); err != nil {
		return err
	}
	for _, it := range d.items {
		if err := p.value(it.Key, depth+1); err != nil {
			return err
		}
		if err := p.value(it.Value, depth+1); err != nil {
			return err
		}
	}
	return nil
}

package zeo

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strings"
)

// pickler writes values the way zodbpickle's Pickler(f, 3) with fast = 1
// (its C implementation, a copy of CPython's _pickle.c) does, which is how
// ZEO encodes every message: protocol 3, no memo, batches of 1000 items,
// the smallest integer opcode. For the value set, the output is byte for
// byte what Python sends.
type pickler struct {
	buf []byte
	lim Limits
}

func appendPickle(dst []byte, v any, lim Limits) ([]byte, error) {
	p := &pickler{buf: append(dst, opPROTO, 3), lim: lim}
	if err := p.value(v, 0); err != nil {
		return nil, err
	}
	if len(p.buf) >= lim.MaxEncoded {
		return nil, fmt.Errorf("%w: encoding longer than %d bytes", ErrLimit, lim.MaxEncoded)
	}
	return append(p.buf, opSTOP), nil
}

func (p *pickler) value(v any, depth int) error {
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
		p.buf = append(p.buf, opNONE)
	case bool:
		if x {
			p.buf = append(p.buf, opNEWTRUE)
		} else {
			p.buf = append(p.buf, opNEWFALSE)
		}
	case float64:
		p.float(x)
	case float32:
		p.float(float64(x))
	case []byte:
		return counted(p, x, opSHORT_BINBYTES, opBINBYTES)
	case string:
		return counted(p, x, 0, opBINUNICODE) // protocol 3 has no short form
	case Tuple:
		return p.tuple(x, depth)
	case *List:
		p.buf = append(p.buf, opEMPTY_LIST)
		return p.appends(x.Items, depth, true)
	case List:
		p.buf = append(p.buf, opEMPTY_LIST)
		return p.appends(x.Items, depth, true)
	case *Dict:
		p.buf = append(p.buf, opEMPTY_DICT)
		return p.setItems(x, depth, true)
	case Global:
		if !validGlobal(x) {
			return fmt.Errorf("%w: global %q %q does not fit GLOBAL's text lines", ErrUnsupportedType, x.Module, x.Name)
		}
		p.buf = append(p.buf, opGLOBAL)
		p.buf = append(append(p.buf, x.Module...), '\n')
		p.buf = append(append(p.buf, x.Name...), '\n')
	case *Object:
		return p.object(x, depth)
	default:
		return p.integer(v)
	}
	return nil
}

// integer writes any Go integer as Python's save_long would.
func (p *pickler) integer(v any) error {
	if i, ok := AsInt64(v); ok {
		switch {
		case i >= 0 && i <= 0xff:
			p.buf = append(p.buf, opBININT1, byte(i))
		case i >= 0 && i <= 0xffff:
			p.buf = append(p.buf, opBININT2, byte(i), byte(i>>8))
		case i >= math.MinInt32 && i <= math.MaxInt32:
			p.buf = binary.LittleEndian.AppendUint32(append(p.buf, opBININT), uint32(i))
		default:
			p.long(big.NewInt(i))
		}
		return nil
	}
	if b, ok := asBigInt(v); ok {
		p.long(b)
		return nil
	}
	return fmt.Errorf("%w: %T", ErrUnsupportedType, v)
}

// long writes LONG1 or LONG4 with the shortest two's complement encoding,
// as pickle.encode_long does.
func (p *pickler) long(x *big.Int) {
	b := encodeLong(x)
	if len(b) < 256 {
		p.buf = append(p.buf, opLONG1, byte(len(b)))
	} else {
		p.buf = binary.LittleEndian.AppendUint32(append(p.buf, opLONG4), uint32(len(b)))
	}
	p.buf = append(p.buf, b...)
}

// encodeLong returns x in little-endian two's complement using
// bit_length/8 + 1 bytes, dropping a redundant 0xff for negatives, exactly
// as CPython's pickle.encode_long.
func encodeLong(x *big.Int) []byte {
	if x.Sign() == 0 {
		return nil
	}
	n := x.BitLen()/8 + 1
	if x.Sign() < 0 {
		// Python measures the bit length of |x|.
		n = new(big.Int).Neg(x).BitLen()/8 + 1
	}
	v := new(big.Int).Set(x)
	if x.Sign() < 0 {
		v.Add(v, new(big.Int).Lsh(big.NewInt(1), uint(8*n)))
	}
	be := v.FillBytes(make([]byte, n))
	le := make([]byte, n)
	for i, c := range be {
		le[n-1-i] = c
	}
	if x.Sign() < 0 && n > 1 && le[n-1] == 0xff && le[n-2]&0x80 != 0 {
		le = le[:n-1]
	}
	return le
}

func (p *pickler) float(f float64) {
	p.buf = binary.BigEndian.AppendUint64(append(p.buf, opBINFLOAT), math.Float64bits(f))
}

// counted writes a length-prefixed payload: the short opcode (if any)
// below 256 bytes, else the 4-byte form. Protocol 3 has no 8-byte forms,
// so longer payloads cannot be pickled.
func counted[T ~string | ~[]byte](p *pickler, b T, short, long byte) error {
	if len(b) > p.lim.MaxEncoded-len(p.buf) || uint64(len(b)) > math.MaxUint32 {
		return fmt.Errorf("%w: %d-byte payload", ErrLimit, len(b))
	}
	if short != 0 && len(b) < 256 {
		p.buf = append(p.buf, short, byte(len(b)))
	} else {
		p.buf = binary.LittleEndian.AppendUint32(append(p.buf, long), uint32(len(b)))
	}
	p.buf = append(p.buf, b...)
	return nil
}

func (p *pickler) tuple(t Tuple, depth int) error {
	if len(t) == 0 {
		p.buf = append(p.buf, opEMPTY_TUPLE)
		return nil
	}
	if len(t) > 3 {
		p.buf = append(p.buf, opMARK)
	}
	for _, e := range t {
		if err := p.value(e, depth+1); err != nil {
			return err
		}
	}
	if len(t) > 3 {
		p.buf = append(p.buf, opTUPLE)
	} else {
		p.buf = append(p.buf, opTUPLE1+byte(len(t)-1))
	}
	return nil
}

// appends writes list items as CPython's C pickler does for a list
// (batch_list_exact): a single item as APPEND, otherwise MARK … APPENDS per
// batch of up to 1000, even when the last batch holds one item. The
// items of an Object follow batch_list instead (exact = false), where any
// one-item batch is an APPEND.
func (p *pickler) appends(items []any, depth int, exact bool) error {
	return p.batches(len(items), exact, opAPPEND, opAPPENDS, func(i int) error {
		return p.value(items[i], depth+1)
	})
}

// setItems writes dict items the same way, with SETITEM and SETITEMS.
func (p *pickler) setItems(d *Dict, depth int, exact bool) error {
	return p.batches(len(d.items), exact, opSETITEM, opSETITEMS, func(i int) error {
		if err := p.value(d.items[i].Key, depth+1); err != nil {
			return err
		}
		return p.value(d.items[i].Value, depth+1)
	})
}

func (p *pickler) batches(n int, exact bool, one, many byte, item func(int) error) error {
	for start := 0; start < n; start += batchSize {
		end := min(n, start+batchSize)
		single := end-start == 1 && (!exact || n == 1)
		if !single {
			p.buf = append(p.buf, opMARK)
		}
		for i := start; i < end; i++ {
			if err := item(i); err != nil {
				return err
			}
		}
		if single {
			p.buf = append(p.buf, one)
		} else {
			p.buf = append(p.buf, many)
		}
	}
	return nil
}

// object writes an Object in save_reduce's order: class, args, REDUCE or
// NEWOBJ, list items, dict items, then state and BUILD.
func (p *pickler) object(o *Object, depth int) error {
	if err := p.value(o.Class, depth+1); err != nil {
		return err
	}
	if err := p.tuple(o.Args, depth+1); err != nil {
		return err
	}
	if o.New {
		p.buf = append(p.buf, opNEWOBJ)
	} else {
		p.buf = append(p.buf, opREDUCE)
	}
	if err := p.appends(o.ListItems, depth, false); err != nil {
		return err
	}
	if o.DictItems != nil {
		if err := p.setItems(o.DictItems, depth, false); err != nil {
			return err
		}
	}
	if o.State == nil {
		return nil
	}
	if err := p.value(o.State, depth+1); err != nil {
		return err
	}
	p.buf = append(p.buf, opBUILD)
	return nil
}

// validGlobal reports whether GLOBAL can carry g: each name goes on a line
// of its own, which the decoder bounds.
func validGlobal(g Global) bool {
	return len(g.Module) <= maxLine && len(g.Name) <= maxLine &&
		!strings.ContainsRune(g.Module, '\n') && !strings.ContainsRune(g.Name, '\n')
}

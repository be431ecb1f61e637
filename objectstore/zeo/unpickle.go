package zeo

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"math/big"
	"strconv"
)

// maxLine bounds the text lines of protocol 0 opcodes (GLOBAL and INST
// names, INT, LONG, FLOAT, GET, PUT): real ones are short, and a bound
// keeps number parsing cheap.
const maxLine = 4096

// unpickler is a pickle machine that builds values instead of calling
// Python. It never recurses, checks every length against the bytes left
// before it allocates, and charges every pushed value and mark to a budget
// (Limits.MaxValues), so memory stays proportional to the budget whatever
// the input.
type unpickler struct {
	data      []byte
	pos       int   // next byte to read
	opPos     int   // offset of the opcode being run, for errors
	stack     []any // values; marks index into it
	marks     []int // MARK positions, innermost last
	memo      map[int64]any
	lim       Limits
	pushes    int // values and marks still allowed
	keyBudget int // bytes still allowed for hashing dict keys
}

func unpickle(data []byte, lim Limits) (any, error) {
	u := &unpickler{
		data:      data,
		lim:       lim,
		pushes:    lim.MaxValues,
		keyBudget: 16*len(data) + maxKeyBytes,
	}
	v, err := u.run()
	if err != nil {
		return nil, err
	}
	if u.pos != len(data) {
		u.opPos = u.pos
		return nil, u.fail(ErrMalformed, "%d bytes after STOP", len(data)-u.pos)
	}
	return v, nil
}

// run executes opcodes up to STOP and returns the value on top.
func (u *unpickler) run() (any, error) {
	for {
		if u.pos >= len(u.data) {
			u.opPos = u.pos
			return nil, u.fail(ErrTruncated, "pickle ends without STOP")
		}
		u.opPos = u.pos
		op := u.data[u.pos]
		u.pos++
		if op == opSTOP {
			return u.pop()
		}
		if err := u.step(op); err != nil {
			return nil, err
		}
	}
}

// step runs one opcode other than STOP.
func (u *unpickler) step(op byte) error {
	if done, err := u.stepStack(op); done {
		return err
	}
	if done, err := u.stepScalar(op); done {
		return err
	}
	if done, err := u.stepText(op); done {
		return err
	}
	if done, err := u.stepContainer(op); done {
		return err
	}
	if done, err := u.stepMemo(op); done {
		return err
	}
	if done, err := u.stepObject(op); done {
		return err
	}
	return u.fail(ErrUnsupported, "%s", unsupportedOp(op))
}

func (u *unpickler) fail(kind error, format string, args ...any) error {
	op := "end of input"
	if u.opPos < len(u.data) {
		op = opDesc(u.data[u.opPos])
	}
	return &DecodeError{
		Encoding: Pickle,
		Offset:   u.opPos,
		Detail:   op + ": " + fmt.Sprintf(format, args...),
		Err:      kind,
	}
}

func opDesc(op byte) string {
	if op >= 0x20 && op < 0x7f {
		return fmt.Sprintf("opcode %q", rune(op))
	}
	return fmt.Sprintf("opcode 0x%02x", op)
}

// unsupportedOp says why a valid opcode is refused.
func unsupportedOp(op byte) string {
	switch op {
	case 'P', 'Q':
		return "persistent ids are not supported in messages"
	case 'S', 'V':
		return "protocol 0 STRING/UNICODE are not supported"
	case 0x82, 0x83, 0x84:
		return "extension registry codes (EXT1/2/4) are not supported"
	case 0x92:
		return "NEWOBJ_EX is not supported"
	case 0x8f, 0x90, 0x91:
		return "sets (EMPTY_SET/ADDITEMS/FROZENSET) are not supported"
	case 0x96, 0x97, 0x98:
		return "protocol 5 buffers are not supported"
	}
	return "unknown opcode"
}

// Stack primitives.

func (u *unpickler) charge() error {
	if u.pushes--; u.pushes < 0 {
		return u.fail(ErrLimit, "more than %d values and marks", u.lim.MaxValues)
	}
	return nil
}

func (u *unpickler) push(v any) error {
	if err := u.charge(); err != nil {
		return err
	}
	u.stack = append(u.stack, v)
	return nil
}

// floor is the bottom of the innermost marked section: as in Python's
// unpickler, values below a MARK cannot be popped before it is closed.
func (u *unpickler) floor() int {
	if len(u.marks) == 0 {
		return 0
	}
	return u.marks[len(u.marks)-1]
}

func (u *unpickler) pop() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, u.fail(ErrMalformed, "stack underflow")
	}
	v := u.stack[len(u.stack)-1]
	u.stack[len(u.stack)-1] = nil
	u.stack = u.stack[:len(u.stack)-1]
	return v, nil
}

func (u *unpickler) top() (any, error) {
	if len(u.stack) <= u.floor() {
		return nil, u.fail(ErrMalformed, "stack underflow")
	}
	return u.stack[len(u.stack)-1], nil
}

// popN pops n values, oldest first.
func (u *unpickler) popN(n int) ([]any, error) {
	if len(u.stack)-u.floor() < n {
		return nil, u.fail(ErrMalformed, "stack underflow")
	}
	items := make([]any, n)
	copy(items, u.stack[len(u.stack)-n:])
	clear(u.stack[len(u.stack)-n:])
	u.stack = u.stack[:len(u.stack)-n]
	return items, nil
}

// popMark pops the values above the innermost MARK and the mark itself.
func (u *unpickler) popMark() ([]any, error) {
	if len(u.marks) == 0 {
		return nil, u.fail(ErrMalformed, "no MARK to pop to")
	}
	m := u.marks[len(u.marks)-1]
	u.marks = u.marks[:len(u.marks)-1]
	items := make([]any, len(u.stack)-m)
	copy(items, u.stack[m:])
	clear(u.stack[m:])
	u.stack = u.stack[:m]
	return items, nil
}

// Input primitives.

// take returns the next n bytes as a slice of the input whose capacity
// ends with it, so that appending to a decoded []byte copies.
func (u *unpickler) take(n uint64) ([]byte, error) {
	if n > uint64(len(u.data)-u.pos) {
		return nil, u.fail(ErrTruncated, "needs %d bytes, %d left", n, len(u.data)-u.pos)
	}
	b := u.data[u.pos : u.pos+int(n) : u.pos+int(n)]
	u.pos += int(n)
	return b, nil
}

// uint reads an unsigned little-endian integer of size 1, 2, 4 or 8.
func (u *unpickler) uint(size int) (uint64, error) {
	b, err := u.take(uint64(size))
	if err != nil {
		return 0, err
	}
	var buf [8]byte
	copy(buf[:], b)
	return binary.LittleEndian.Uint64(buf[:]), nil
}

// line reads a protocol 0 text argument up to its newline.
func (u *unpickler) line() ([]byte, error) {
	rest := u.data[u.pos:]
	i := bytes.IndexByte(rest[:min(len(rest), maxLine+1)], '\n')
	switch {
	case i >= 0:
		u.pos += i + 1
		return rest[:i], nil
	case len(rest) <= maxLine:
		return nil, u.fail(ErrTruncated, "text argument without newline")
	}
	return nil, u.fail(ErrLimit, "text argument longer than %d bytes", maxLine)
}

// stepStack runs the opcodes that manage the stack itself.
func (u *unpickler) stepStack(op byte) (bool, error) {
	switch op {
	case opPROTO:
		v, err := u.uint(1)
		if err == nil && v > highestProtocol {
			err = u.fail(ErrUnsupported, "pickle protocol %d", v)
		}
		return true, err
	case opFRAME: // protocol 4 framing carries no meaning once in memory
		_, err := u.length(8)
		return true, err
	case opMARK:
		if err := u.charge(); err != nil {
			return true, err
		}
		u.marks = append(u.marks, len(u.stack))
		return true, nil
	case opPOP: // like Python: with nothing above the mark, drop the mark
		if len(u.stack) > u.floor() {
			_, err := u.pop()
			return true, err
		}
		_, err := u.popMark()
		return true, err
	case opPOP_MARK:
		_, err := u.popMark()
		return true, err
	case opDUP:
		v, err := u.top()
		if err == nil {
			err = u.push(v)
		}
		return true, err
	}
	return false, nil
}

// length reads a byte count of the given size and checks that the input
// still holds that many bytes, before anything is allocated.
func (u *unpickler) length(size int) (uint64, error) {
	n, err := u.uint(size)
	if err == nil && n > uint64(len(u.data)-u.pos) {
		err = u.fail(ErrTruncated, "length %d, %d bytes left", n, len(u.data)-u.pos)
	}
	return n, err
}

// stepScalar runs the binary opcodes for None, bools, numbers, bytes and
// strings.
func (u *unpickler) stepScalar(op byte) (bool, error) {
	switch op {
	case opNONE:
		return true, u.push(None{})
	case opNEWTRUE:
		return true, u.push(true)
	case opNEWFALSE:
		return true, u.push(false)
	case opBININT1:
		v, err := u.uint(1)
		return true, u.pushOr(int64(v), err)
	case opBININT2:
		v, err := u.uint(2)
		return true, u.pushOr(int64(v), err)
	case opBININT:
		v, err := u.uint(4)
		return true, u.pushOr(int64(int32(uint32(v))), err)
	case opLONG1:
		return true, u.long(1)
	case opLONG4:
		return true, u.long(4)
	case opBINFLOAT:
		b, err := u.take(8)
		if err != nil {
			return true, err
		}
		return true, u.push(math.Float64frombits(binary.BigEndian.Uint64(b)))
	case opSHORT_BINBYTES, opBINBYTES, opBINBYTES8:
		b, err := u.counted(op, opSHORT_BINBYTES, opBINBYTES)
		return true, u.pushOr(b, err)
	case opSHORT_BINUNI, opBINUNICODE, opBINUNICODE8:
		b, err := u.counted(op, opSHORT_BINUNI, opBINUNICODE)
		return true, u.pushOr(string(b), err)
	case opSHORT_BINSTR, opBINSTRING:
		return true, u.binString(op)
	}
	return false, nil
}

// pushOr pushes v unless reading it failed.
func (u *unpickler) pushOr(v any, err error) error {
	if err != nil {
		return err
	}
	return u.push(v)
}

// counted reads a length-prefixed payload: a 1-byte length for the short
// opcode, 4 bytes for the middle one, 8 bytes otherwise.
func (u *unpickler) counted(op, short, mid byte) ([]byte, error) {
	size := 8
	switch op {
	case short:
		size = 1
	case mid:
		size = 4
	}
	n, err := u.length(size)
	if err != nil {
		return nil, err
	}
	return u.take(n)
}

// binString reads Python 2's str opcodes. Python 3 decodes them with the
// unpickler's encoding (ASCII for ZEO); they become Go strings holding the
// raw bytes.
func (u *unpickler) binString(op byte) error {
	size := 1
	if op == opBINSTRING {
		size = 4
	}
	n, err := u.uint(size)
	if err != nil {
		return err
	}
	if op == opBINSTRING && int32(uint32(n)) < 0 {
		return u.fail(ErrMalformed, "negative BINSTRING length")
	}
	b, err := u.take(n)
	return u.pushOr(string(b), err)
}

// maxLongBytes bounds a binary integer (LONG1, LONG4) as Python bounds the
// conversion of one to and from decimal (sys.int_max_str_digits, 4300
// digits): no ZEO message carries more, and converting a larger one (for
// an error message, a dict key) costs time growing faster than its size —
// a hostile frame of a few MiB kept a core busy for seconds, one of 256
// MiB for hours. Text integers (INT, LONG) are bounded by the length of a
// text argument.
const maxLongBytes = 1786 // 4300 decimal digits

// long reads LONG1 (1-byte length) or LONG4 (signed 4-byte length): a
// little-endian two's complement integer.
func (u *unpickler) long(size int) error {
	n, err := u.uint(size)
	if err != nil {
		return err
	}
	if size == 4 && int32(uint32(n)) < 0 {
		return u.fail(ErrMalformed, "negative LONG4 length")
	}
	if n > maxLongBytes {
		return u.fail(ErrLimit, "LONG4 of %d bytes (at most %d)", n, maxLongBytes)
	}
	b, err := u.take(n)
	if err != nil {
		return err
	}
	return u.push(decodeLong(b))
}

// decodeLong decodes pickle's little-endian two's complement integers,
// returning an int64 when the value fits.
func decodeLong(b []byte) any {
	if len(b) == 0 {
		return int64(0)
	}
	if len(b) <= 8 {
		var buf [8]byte
		copy(buf[:], b)
		v := binary.LittleEndian.Uint64(buf[:])
		shift := 64 - 8*uint(len(b))
		return int64(v<<shift) >> shift // sign-extend
	}
	be := make([]byte, len(b))
	for i, c := range b {
		be[len(b)-1-i] = c
	}
	x := new(big.Int).SetBytes(be)
	if b[len(b)-1]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(b))))
	}
	return normInt(x)
}

// normInt returns x as an int64 when it fits, so that equal numbers always
// have one Go type.
func normInt(x *big.Int) any {
	if x.IsInt64() {
		return x.Int64()
	}
	return x
}

// stepText runs the protocol 0 opcodes whose argument is a text line.
func (u *unpickler) stepText(op byte) (bool, error) {
	switch op {
	case opINT, opLONG:
		ln, err := u.line()
		if err != nil {
			return true, err
		}
		return true, u.textInt(op, ln)
	case opFLOAT:
		ln, err := u.line()
		if err != nil {
			return true, err
		}
		f, perr := strconv.ParseFloat(string(bytes.TrimSpace(ln)), 64)
		if perr != nil {
			return true, u.fail(ErrMalformed, "bad FLOAT %q", ln)
		}
		return true, u.push(f)
	}
	return false, nil
}

// textInt parses INT and LONG lines; INT's "01" and "00" are Python 2's
// True and False.
func (u *unpickler) textInt(op byte, ln []byte) error {
	s := string(bytes.TrimSpace(ln))
	if op == opINT && (s == "00" || s == "01") {
		return u.push(s == "01")
	}
	if op == opLONG && len(s) > 0 && s[len(s)-1] == 'L' {
		s = s[:len(s)-1]
	}

	x, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return u.fail(ErrMalformed, "bad integer %q", ln)
	}
	return u.push(normInt(x))
}

package zeo

import "fmt"

// Encoding is the message encoding a connection uses, named by the letter
// that starts its handshake frame.
type Encoding byte

const (
	// Pickle is ZEO's default encoding ("Z"): Python pickle protocol 3,
	// written in fast mode (no memo), as zodbpickle does on both ends.
	Pickle Encoding = 'Z'

	// Msgpack is the optional encoding ("M") of a server started with
	// msgpack enabled: msgpack with the bin type, arrays read back as
	// tuples.
	Msgpack Encoding = 'M'
)

// String returns the handshake letter ("Z" or "M").
func (e Encoding) String() string { return string(rune(e)) }

func (e Encoding) name() string {
	switch e {
	case Pickle:
		return "pickle"
	case Msgpack:
		return "msgpack"
	}
	return fmt.Sprintf("encoding %q", rune(e))
}

// Defaults for the zero fields of Limits.
const (
	// DefaultMaxFrame is the frame size limit used when none is given:
	// ZEO itself has none, and one storea carries a whole object record,
	// so the default is generous.
	DefaultMaxFrame = 256 << 20

	// DefaultMaxValues bounds the values and marks one decode may push:
	// about 64 bytes of memory each, so 256 MiB at most, while a list of
	// four million oids still decodes.
	DefaultMaxValues = 4 << 20

	// DefaultMaxMemo bounds the pickle memo. Stock peers pickle in fast
	// mode and send no memo at all.
	DefaultMaxMemo = 1 << 20

	// DefaultMaxDepth bounds container nesting when encoding, decoding
	// msgpack and walking values. Python's own recursion limit (1000)
	// stops its pickler near the same depth.
	DefaultMaxDepth = 1000
)

// Limits bound the work and memory that one message may cost, so that a
// hostile peer cannot exhaust the server. A zero field takes its default.
type Limits struct {
	// MaxValues caps the values and marks a decoder pushes for one
	// message, memo fetches included. Default DefaultMaxValues.
	MaxValues int

	// MaxMemo caps the entries of the pickle memo. Default DefaultMaxMemo.
	MaxMemo int

	// MaxDepth caps container nesting when encoding, when decoding
	// msgpack, and in Plain. Default DefaultMaxDepth.
	MaxDepth int

	// MaxEncoded caps the bytes one Encode or Marshal may produce; it also
	// stops values whose shared references would expand exponentially.
	// Default DefaultMaxFrame.
	MaxEncoded int
}

func (l Limits) withDefaults() Limits {
	if l.MaxValues <= 0 {
		l.MaxValues = DefaultMaxValues
	}
	if l.MaxMemo <= 0 {
		l.MaxMemo = DefaultMaxMemo
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxEncoded <= 0 {
		l.MaxEncoded = DefaultMaxFrame
	}
	return l
}

// Codec encodes and decodes messages and values in one encoding under
// given limits. The zero Limits means the defaults. A Codec is a plain
// value: safe for concurrent use.
type Codec struct {
	Encoding Encoding
	Limits   Limits
}

// Marshal encodes one value (see the package documentation for the value
// set). Pickles are written as ZEO writes them: protocol 3, no memo.
func (c Codec) Marshal(v any) ([]byte, error) {
	lim := c.Limits.withDefaults()
	switch c.Encoding {
	case Pickle:
		return appendPickle(nil, v, lim)
	case Msgpack:
		return appendMsgpack(nil, v, lim)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, rune(c.Encoding))
}

// Unmarshal decodes one value that must fill data exactly. Decoded []byte
// values share data's memory, which saves copying records of many
// megabytes: do not modify data afterwards. Their capacity ends with
// them, so appending to one copies instead of overwriting data.
func (c Codec) Unmarshal(data []byte) (any, error) {
	lim := c.Limits.withDefaults()
	switch c.Encoding {
	case Pickle:
		return unpickle(data, lim)
	case Msgpack:
		return unpackMsgpack(data, lim)
	}
	return nil, fmt.Errorf("%w: %q", ErrUnknownEncoding, rune(c.Encoding))
}

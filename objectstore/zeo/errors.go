package zeo

import (
	"errors"
	"fmt"
)

// Framing errors.
var (
	// ErrFrameTooLarge is returned by Reader.ReadFrame when a frame header
	// announces more bytes than the reader's limit (the payload is neither
	// allocated nor read, so the stream is out of sync and the connection
	// must be closed), and by Writer.WriteFrame for a payload that does not
	// fit the 32-bit length.
	ErrFrameTooLarge = errors.New("zeo: frame too large")
)

// Handshake errors.
var (
	// ErrBadHandshake is returned when a protocol frame is malformed or
	// names a version this side does not speak. Stock ZEO closes the
	// connection in that case ("bad handshake").
	ErrBadHandshake = errors.New("zeo: bad handshake")

	// ErrStatusRequest is returned by ServerHandshake when the client sent
	// "ruok" instead of a protocol: not a failure, but a request for the
	// JSON status frame, after which the server closes the connection.
	ErrStatusRequest = errors.New("zeo: status request (ruok)")
)

// Decoding errors. Decoders wrap them in a *DecodeError that says where the
// input went wrong.
var (
	// ErrTruncated means the input ended in the middle of a value.
	ErrTruncated = errors.New("zeo: truncated input")

	// ErrMalformed means the input is not a valid encoding: a stack
	// underflow, an operation on the wrong kind of value, trailing bytes.
	ErrMalformed = errors.New("zeo: malformed input")

	// ErrUnsupported means the input is valid but uses a feature this
	// codec knowingly leaves out (see the package documentation).
	ErrUnsupported = errors.New("zeo: unsupported feature")

	// ErrLimit means decoding or encoding would exceed a Limits bound.
	ErrLimit = errors.New("zeo: limit exceeded")

	// ErrUnhashable is returned for a dict key Python could not hash (a
	// list or a dict), by decoders and by Dict.Set.
	ErrUnhashable = errors.New("zeo: unhashable dict key")

	// ErrBadMessage means a frame decoded to a value that is not a ZEO
	// message (msgid, flags, method, args), or an error reply whose
	// arguments are not (class name, payload).
	ErrBadMessage = errors.New("zeo: malformed message")
)

// Encoding errors.
var (
	// ErrUnsupportedType is returned when asked to encode a Go value
	// outside the package's value set, or one that the chosen encoding
	// cannot carry (a Global in msgpack, an integer beyond 64 bits).
	ErrUnsupportedType = errors.New("zeo: cannot encode value")

	// ErrUnknownEncoding is returned for an Encoding other than Pickle or
	// Msgpack.
	ErrUnknownEncoding = errors.New("zeo: unknown encoding")
)

// DecodeError says where a pickle or msgpack decoder gave up. Err is one
// of the decoding sentinels above, so callers branch with errors.Is.
type DecodeError struct {
	Encoding Encoding // Pickle or Msgpack
	Offset   int      // byte offset of the opcode or value that failed
	Detail   string   // what went wrong, for logs
	Err      error    // the sentinel
}

func (e *DecodeError) Error() string {
	return fmt.Sprintf("%v at %s offset %d: %s", e.Err, e.Encoding.name(), e.Offset, e.Detail)
}

// Unwrap returns the sentinel.
func (e *DecodeError) Unwrap() error { return e.Err }

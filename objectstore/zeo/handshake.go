package zeo

import "fmt"

// Version is the only protocol version ZEO 5 and 6 speak. ZEO ≥ 5.4
// clients accept nothing else; older 5.x clients also knew "309", "310",
// "3101" and "4".
const Version = "5"

// StatusRequest is what a monitoring client (ZEO's nagios.py) sends
// instead of a protocol: the server answers with one JSON frame,
// {storage_id: status}, and closes.
const StatusRequest = "ruok"

// Protocol is a handshake frame's content: an encoding letter and a
// version, "Z5" or "M5".
type Protocol struct {
	Encoding Encoding
	Version  string
}

// String returns the frame's text, e.g. "Z5".
func (p Protocol) String() string { return string(rune(p.Encoding)) + p.Version }

// Bytes returns the frame's payload.
func (p Protocol) Bytes() []byte { return []byte(p.String()) }

// ParseProtocol parses a handshake frame: "Z" or "M" followed by a
// non-empty version.
func ParseProtocol(frame []byte) (Protocol, error) {
	if len(frame) < 2 {
		return Protocol{}, fmt.Errorf("%w: %q", ErrBadHandshake, frame)
	}
	enc := Encoding(frame[0])
	if enc != Pickle && enc != Msgpack {
		return Protocol{}, fmt.Errorf("%w: unknown encoding in %q", ErrBadHandshake, frame)
	}
	return Protocol{Encoding: enc, Version: string(frame[1:])}, nil
}

// AcceptProtocol checks the client's handshake reply as ZEO's server
// does: the reply decides the encoding, and the version must be Version.
// A "ruok" reply returns ErrStatusRequest.
func AcceptProtocol(reply []byte) (Protocol, error) {
	if string(reply) == StatusRequest {
		return Protocol{}, ErrStatusRequest
	}
	p, err := ParseProtocol(reply)
	if err != nil {
		return Protocol{}, err
	}
	if p.Version != Version {
		return Protocol{}, fmt.Errorf("%w: unsupported version in %q", ErrBadHandshake, reply)
	}
	return p, nil
}

// ChooseProtocol is the client's answer to the server's announcement:
// min(server version, "5") compared as bytes, which must be "5", with the
// server's encoding letter.
func ChooseProtocol(announced []byte) (Protocol, error) {
	p, err := ParseProtocol(announced)
	if err != nil {
		return Protocol{}, err
	}
	p.Version = min(p.Version, Version)
	if p.Version != Version {
		return Protocol{}, fmt.Errorf("%w: server protocol %q is older than %s", ErrBadHandshake, announced, Version)
	}
	return p, nil
}

// ServerHandshake runs the server's side: send announce (normally
// Protocol{Pickle, Version}), then read and check the client's reply. The
// returned protocol's encoding is the one to use from now on. On
// ErrStatusRequest the caller sends the JSON status frame and closes.
func ServerHandshake(r *Reader, w *Writer, announce Protocol) (Protocol, error) {
	if err := w.WriteFrame(announce.Bytes()); err != nil {
		return Protocol{}, err
	}
	if err := w.Flush(); err != nil {
		return Protocol{}, err
	}
	reply, err := r.ReadFrame()
	if err != nil {
		return Protocol{}, err
	}
	return AcceptProtocol(reply)
}

// ClientHandshake runs the client's side: read the announcement, answer
// with the chosen protocol.
func ClientHandshake(r *Reader, w *Writer) (Protocol, error) {
	announced, err := r.ReadFrame()
	if err != nil {
		return Protocol{}, err
	}
	p, err := ChooseProtocol(announced)
	if err != nil {
		return Protocol{}, err
	}
	if err := w.WriteFrame(p.Bytes()); err != nil {
		return Protocol{}, err
	}
	return p, w.Flush()
}

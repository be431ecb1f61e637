package zeo

import (
	"fmt"
)

// ReplyMethod is the method name of every reply, heartbeats included.
const ReplyMethod = ".reply"

// HeartbeatID is the msgid of the client's heartbeat, (-1, 0, ".reply",
// None), sent every 60 seconds. A server must drop it before looking the
// method up.
const HeartbeatID = -1

// Flag is the second field of a message. Python sends it as a bool on
// calls (False: a reply is expected; True: asynchronous) and as an int on
// replies (0, or 2 for an exception), and the receiver only tests its
// truth.
type Flag int64

const (
	// FlagSync marks a synchronous call or an ordinary reply.
	FlagSync Flag = 0
	// FlagAsync marks an asynchronous call, which is never answered.
	FlagAsync Flag = 1
	// FlagError marks an error reply: Args is (class name, payload).
	FlagError Flag = 2
)

// Message is one ZEO message, the 4-tuple (msgid, flags, method, args)
// inside every frame after the handshake.
type Message struct {
	// ID is the msgid: an int64 counting up from 1 for synchronous calls,
	// 0 for asynchronous ones, HeartbeatID for heartbeats, and the tuple
	// (oid, tid) for loadBefore. A reply must carry the request's ID
	// unchanged, whatever its type.
	ID any
	// Flag says whether a call expects a reply, or a reply is an error.
	Flag Flag
	// Method is the name of the called method, or ReplyMethod.
	Method string
	// Args is the argument tuple of a call, or the value of a reply (any
	// value, not wrapped in a tuple).
	Args any
}

// Call returns a synchronous call. Python clients number calls from 1;
// loadBefore uses Tuple{oid, tid} as its id.
func Call(id any, method string, args ...any) Message {
	return Message{ID: id, Flag: FlagSync, Method: method, Args: Tuple(args)}
}

// AsyncCall returns an asynchronous call (msgid 0, never answered): the
// form of tpc_begin, storea and the other buffered writes, and of every
// server-to-client call such as invalidateTransaction.
func AsyncCall(method string, args ...any) Message {
	return Message{ID: int64(0), Flag: FlagAsync, Method: method, Args: Tuple(args)}
}

// Reply returns the reply to the call with the given id.
func Reply(id, value any) Message {
	return Message{ID: id, Flag: FlagSync, Method: ReplyMethod, Args: value}
}

// ErrorReply returns the reply that raises e in the caller, as ZEO's
// send_error does: flag 2, args (class name, __dict__ or args).
func ErrorReply(id any, e *Exception) Message {
	return Message{ID: id, Flag: FlagError, Method: ReplyMethod, Args: Tuple{e.Class, e.Args}}
}

// Heartbeat returns the client's keep-alive message.
func Heartbeat() Message {
	return Message{ID: int64(HeartbeatID), Flag: FlagSync, Method: ReplyMethod, Args: None{}}
}

// IsHeartbeat reports whether m has the heartbeat msgid. ZEO's server
// tests only the msgid, before anything else.
func (m Message) IsHeartbeat() bool {
	id, ok := AsInt64(m.ID)
	return ok && id == HeartbeatID
}

// ValidID reports whether id has a shape stock clients send: an int, or
// loadBefore's (oid, tid) tuple of two bytes. A server should close a
// connection that sends any other msgid instead of echoing it: a tuple
// built through the pickle memo can share its parts, and its encoding can
// then grow exponentially, up to Limits.MaxEncoded, from a few input bytes.
func ValidID(id any) bool {
	if _, ok := AsInt64(id); ok {
		return true
	}
	t, ok := id.(Tuple)
	if !ok || len(t) != 2 {
		return false
	}
	_, ok1 := t[0].([]byte)
	_, ok2 := t[1].([]byte)
	return ok1 && ok2
}

// IsReply reports whether m is a reply (normal or error).
func (m Message) IsReply() bool { return m.Method == ReplyMethod }

// IsAsync reports whether m is a call that expects no reply.
func (m Message) IsAsync() bool { return !m.IsReply() && m.Flag != FlagSync }

// IsError reports whether m is an error reply. Like the Python client, it
// treats any non-zero flag on a reply as one.
func (m Message) IsError() bool { return m.IsReply() && m.Flag != FlagSync }

// Exception returns the exception an error reply carries.
func (m Message) Exception() (*Exception, error) {
	if !m.IsError() {
		return nil, fmt.Errorf("%w: not an error reply", ErrBadMessage)
	}
	return ParseException(m.Args)
}

// String formats m for logs, shortened like ZEO's short_repr.
func (m Message) String() string {
	return Repr(Tuple{m.ID, int64(m.Flag), m.Method, m.Args})
}

// Encode encodes m with the default limits.
func (m Message) Encode(enc Encoding) ([]byte, error) {
	return Codec{Encoding: enc}.Encode(m)
}

// DecodeMessage decodes a frame with the default limits.
func DecodeMessage(enc Encoding, frame []byte) (Message, error) {
	return Codec{Encoding: enc}.Decode(frame)
}

// Encode encodes m as Python would: the flag goes out as a bool on calls
// that use 0 or 1, and as an int otherwise (replies, error replies).
func (c Codec) Encode(m Message) ([]byte, error) {
	var flag any = int64(m.Flag)
	if !m.IsReply() && (m.Flag == FlagSync || m.Flag == FlagAsync) {
		flag = m.Flag == FlagAsync
	}
	return c.Marshal(Tuple{m.ID, flag, m.Method, m.Args})
}

// Decode decodes one frame into a message. The frame must hold a 4-item
// tuple (or list) whose flag is a bool or an int and whose method is a str.
func (c Codec) Decode(frame []byte) (Message, error) {
	v, err := c.Unmarshal(frame)
	if err != nil {
		return Message{}, err
	}
	t, ok := AsTuple(v)
	if !ok || len(t) != 4 {
		return Message{}, fmt.Errorf("%w: %s is not a 4-tuple", ErrBadMessage, Repr(v))
	}
	var flag Flag
	switch f := t[1].(type) {
	case bool:
		if f {
			flag = FlagAsync
		}
	case int64:
		flag = Flag(f)
	default:
		return Message{}, fmt.Errorf("%w: flags are a %s", ErrBadMessage, typeName(t[1]))
	}
	method, ok := t[2].(string)
	if !ok {
		return Message{}, fmt.Errorf("%w: method name is a %s", ErrBadMessage, typeName(t[2]))
	}
	return Message{ID: t[0], Flag: flag, Method: method, Args: t[3]}, nil
}

package zeo_test

import (
	"fmt"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// A loadBefore call exactly as a Python ZEO client sends it, and the
// POSKeyError reply a server owes it for an unknown oid.
func ExampleDecodeMessage() {
	frame := []byte("\x80\x03(C\x08\x00\x00\x00\x00\x00\x00\x00\x01C\x08\x7f\xff\xff\xff\xff\xff\xff\xff\x86" +
		"\x89X\x0a\x00\x00\x00loadBeforeC\x08\x00\x00\x00\x00\x00\x00\x00\x01C\x08\x7f\xff\xff\xff\xff\xff\xff\xff\x86t.")
	m, err := zeo.DecodeMessage(zeo.Pickle, frame)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(m.Method, m.IsAsync(), zeo.ValidID(m.ID))
	args, _ := zeo.AsTuple(m.Args)
	oid, _ := zeo.AsBytes(args[0])

	reply := zeo.ErrorReply(m.ID, zeo.POSKeyError(oid))
	fmt.Println(reply)
	// Output:
	// loadBefore false true
	// ((b'\x00\x00\x00\x00\x00\x00\x00\x01', b'\x7f\xff\xff\xff\xff\xff\xff\xff'), 2, ".reply", ("ZODB.POSException.POSKeyError", (b'\x00\x00\x00\x00\x00\x00\x00\x01',)))
}

// Heartbeats must be dropped before the method is looked up.
func ExampleMessage_IsHeartbeat() {
	b, _ := zeo.Heartbeat().Encode(zeo.Pickle)
	fmt.Printf("%q\n", b)
	m, _ := zeo.DecodeMessage(zeo.Pickle, b)
	fmt.Println(m.IsHeartbeat())
	// Output:
	// "\x80\x03(J\xff\xff\xff\xffK\x00X\x06\x00\x00\x00.replyNt."
	// true
}

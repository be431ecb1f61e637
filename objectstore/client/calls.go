package client

import (
	"context"
	"fmt"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// Revision is one record as loadBefore returns it.
type Revision struct {
	Data []byte
	// Serial is the tid that wrote the record.
	Serial TID
	// End is the tid of the next revision; zero when this one is current.
	End TID
}

// Load reads the current revision of oid: loadBefore(oid, MaxTID), as
// ClientStorage.load does.
func (c *Client) Load(ctx context.Context, oid OID) (Revision, error) {
	return c.LoadBefore(ctx, oid, MaxTID)
}

// LoadBefore reads the newest revision of oid older than before. An
// unknown oid is ErrNotFound; an oid with no revision before that tid is
// ErrNoRevision.
func (c *Client) LoadBefore(ctx context.Context, oid OID, before TID) (Revision, error) {
	o, t := oid.Bytes(), before.Bytes()
	id := zeo.Tuple{o, t}
	v, err := c.roundTrip(ctx, callKey{s: string(o) + string(t)}, zeo.Call(id, "loadBefore", o, t), nil)
	if err != nil {
		return Revision{}, err
	}
	if zeo.IsNone(v) {
		return Revision{}, fmt.Errorf("client: loadBefore %s before %s: %w", oid, before, ErrNoRevision)
	}
	r, ok := zeo.AsTuple(v)
	if !ok || len(r) != 3 {
		return Revision{}, badReply("loadBefore", v)
	}
	var rev Revision
	var ok1, ok2 bool
	rev.Data, ok1 = r[0].([]byte)
	rev.Serial, ok2 = as8(r[1])
	if !ok1 || !ok2 {
		return Revision{}, badReply("loadBefore", v)
	}
	if !zeo.IsNone(r[2]) {
		if rev.End, ok = as8(r[2]); !ok {
			return Revision{}, badReply("loadBefore", v)
		}
	}
	return rev, nil
}

// LoadSerial reads exactly the revision of oid written by serial, as
// client-side conflict resolution does.
func (c *Client) LoadSerial(ctx context.Context, oid OID, serial TID) ([]byte, error) {
	v, err := c.call(ctx, "loadSerial", oid.Bytes(), serial.Bytes())
	if err != nil {
		return nil, err
	}
	data, ok := v.([]byte)
	if !ok {
		return nil, badReply("loadSerial", v)
	}
	return data, nil
}

// NewOIDs reserves fresh oids (ZEO servers hand out up to 100 at a time).
func (c *Client) NewOIDs(ctx context.Context) ([]OID, error) {
	v, err := c.call(ctx, "new_oids")
	if err != nil {
		return nil, err
	}
	items, ok := zeo.AsTuple(v)
	if !ok {
		return nil, badReply("new_oids", v)
	}
	oids := make([]OID, len(items))
	for i, it := range items {
		if oids[i], ok = as8(it); !ok {
			return nil, badReply("new_oids", v)
		}
	}
	return oids, nil
}

// LastTransaction asks the server for its last committed tid.
func (c *Client) LastTransaction(ctx context.Context) (TID, error) {
	v, err := c.call(ctx, "lastTransaction")
	if err != nil {
		return TID{}, err
	}
	t, ok := as8(v)
	if !ok {
		return TID{}, badReply("lastTransaction", v)
	}
	c.advance(t)
	return t, nil
}

// Ping is a round trip: every invalidation the server queued before it
// has been delivered when Ping returns.
func (c *Client) Ping(ctx context.Context) error {
	_, err := c.call(ctx, "ping")
	return err
}

// Info returns the server's get_info dict (length, size, name,
// interfaces…).
func (c *Client) Info(ctx context.Context) (*zeo.Dict, error) {
	v, err := c.call(ctx, "get_info")
	if err != nil {
		return nil, err
	}
	d, ok := v.(*zeo.Dict)
	if !ok {
		return nil, badReply("get_info", v)
	}
	c.setInfo(d)
	return d, nil
}

// Call makes any synchronous call and returns the reply as a zeo value.
// Arguments are zeo values too ([]byte for bytes, string for str…).
func (c *Client) Call(ctx context.Context, method string, args ...any) (any, error) {
	return c.call(ctx, method, args...)
}

// Cast sends an asynchronous call, which the server never answers. An
// error in it makes the server close the connection.
func (c *Client) Cast(method string, args ...any) error {
	f, err := c.encode(zeo.AsyncCall(method, args...))
	if err != nil {
		return err
	}
	return c.writeFrames(context.Background(), f)
}

func badReply(method string, v any) error {
	return fmt.Errorf("client: %s: unexpected reply %s", method, zeo.Repr(v))
}

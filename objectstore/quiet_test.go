package objectstore_test

import (
	"errors"
	"net"
	"time"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, 5*time.Second) }

// quietClient is a synchronous ZEO client that returns errors instead of
// failing the test, for use from worker goroutines.
type quietClient struct {
	nc     net.Conn
	r      *zeo.Reader
	w      *zeo.Writer
	nextID int64
}

var codec = zeo.Codec{Encoding: zeo.Pickle}

func (c *quietClient) write(m zeo.Message) error {
	f, err := codec.Encode(m)
	if err != nil {
		return err
	}
	if err := c.w.WriteFrame(f); err != nil {
		return err
	}
	return c.w.Flush()
}

func (c *quietClient) castQuiet(method string, args ...any) {
	_ = c.write(zeo.AsyncCall(method, args...))
}

func (c *quietClient) callQuiet(method string, args ...any) (any, error) {
	c.nextID++
	if err := c.write(zeo.Call(c.nextID, method, args...)); err != nil {
		return nil, err
	}
	for {
		f, err := c.r.ReadFrame()
		if err != nil {
			return nil, err
		}
		m, err := codec.Decode(f)
		if err != nil {
			return nil, err
		}
		if !m.IsReply() {
			continue
		}
		if m.IsError() {
			e, _ := m.Exception()
			if e == nil {
				return nil, errors.New("bad error reply")
			}
			return nil, e
		}
		return m.Args, nil
	}
}

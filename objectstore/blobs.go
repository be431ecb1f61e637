package objectstore

import (
	"errors"
	"io"
	"os"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// blobChunk is the size of receiveBlobChunk payloads, as ZEO sends them.
const blobChunk = 59000

// blobAhead is how much of a blob being sent may wait for its client.
const blobAhead = 4 << 20

var errNoBlobs = errors.New("objectstore: this storage has no blob directory")

func (c *conn) storeBlobStart(any, zeo.Tuple) (any, error) {
	if c.st.blobs == nil {
		return nil, errNoBlobs
	}
	if c.upload != nil {
		c.upload.Close()
		os.Remove(c.upload.Name())
	}
	f, err := c.st.blobs.CreateTemp()
	if err != nil {
		return nil, err
	}
	c.upload = f
	return nil, nil
}

func (c *conn) storeBlobChunk(_ any, args zeo.Tuple) (any, error) {
	if c.upload == nil {
		return nil, txnStateErr("storeBlobChunk without storeBlobStart")
	}
	chunk, err := argBytes(args, 0)
	if err != nil {
		return nil, err
	}
	_, err = c.upload.Write(chunk)
	return nil, err
}

func (c *conn) storeBlobEnd(_ any, args zeo.Tuple) (any, error) {
	if c.upload == nil {
		return nil, txnStateErr("storeBlobEnd without storeBlobStart")
	}
	f := c.upload
	c.upload = nil
	if err := f.Close(); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	if err := c.storeBlob(args, f.Name()); err != nil {
		os.Remove(f.Name())
		return nil, err
	}
	return nil, nil
}

func (c *conn) storeBlobShared(_ any, args zeo.Tuple) (any, error) {
	if c.st.blobs == nil {
		return nil, errNoBlobs
	}
	if err := need(args, 5); err != nil {
		return nil, err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	name, ok := arg(args, 3).(string)
	if !ok {
		return nil, argErrorf("storeBlobShared: file name must be a str")
	}
	path, err := c.st.blobs.SharedTemp(oid, name)
	if err != nil {
		c.log.Warn("refusing a blob file name (possible attack)", "name", name)
		return nil, err
	}
	return nil, c.storeBlob(append(args[:3:3], args[4]), path)
}

// storeBlob buffers (oid, serial, data, txnid) with the blob file at path.
func (c *conn) storeBlob(args zeo.Tuple, path string) error {
	if err := need(args, 4); err != nil {
		return err
	}
	oid, err := argOID(args, 0)
	if err != nil {
		return err
	}
	serial, _, err := argTIDOrNone(args, 1)
	if err != nil {
		return err
	}
	data, err := argBytes(args, 2)
	if err != nil {
		return err
	}
	c.txMu.Lock()
	defer c.txMu.Unlock()
	st, err := c.writable(args[3])
	if err != nil {
		return err
	}
	st.txn.StoreBlob(oid, serial, data, path)
	return nil
}

// sendBlob streams a blob as receiveBlobStart, receiveBlobChunk…,
// receiveBlobStop, and only then replies (zeo-protocol.md §7).
func (c *conn) sendBlob(_ any, args zeo.Tuple) (any, error) {
	oid, err := argOID(args, 0)
	if err != nil {
		return nil, err
	}
	serial, err := argTID(args, 1)
	if err != nil {
		return nil, err
	}
	if c.st.blobs == nil {
		return nil, &KeyError{OID: oid, TID: serial}
	}
	f, err := os.Open(c.st.blobs.BlobPath(oid, serial))
	if err != nil {
		return nil, &KeyError{OID: oid, TID: serial}
	}
	defer f.Close()
	o, s := bytesOf(oid), bytesOf(serial)
	c.send(zeo.AsyncCall("receiveBlobStart", o, s), false)
	for {
		// The file goes out as the client takes it: a few chunks ahead,
		// not the whole blob queued in memory (a client asking for a
		// large blob and not reading held all of it).
		if !c.awaitRoom(blobAhead) {
			return nil, fatalf("client left during sendBlob")
		}
		buf := make([]byte, blobChunk)
		n, err := io.ReadFull(f, buf)
		if n > 0 {
			c.send(zeo.AsyncCall("receiveBlobChunk", o, s, buf[:n]), false)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			return nil, fatalError{err}
		}
	}
	c.send(zeo.AsyncCall("receiveBlobStop", o, s), false)
	return zeo.None{}, nil
}

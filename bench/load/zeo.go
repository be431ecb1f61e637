package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/cairnstack/cairn/objectstore/client"
)

// ZEOWorkload is what each ZEO client does: loads of random objects from a
// shared set, and commits of one object of its own (so commits never
// conflict with each other and measure the server, not retries).
type ZEOWorkload struct {
	Addr    string         // host:port, or a Unix socket path
	Client  client.Options // storage name, TLS, …
	Loads   float64        // fraction of operations that are loads, 0…1
	Size    int            // bytes per stored object
	Objects int            // objects created before the run, loaded at random
}

// DefaultZEOWorkload: 90 % loads, 200-byte objects, 1000 of them.
func DefaultZEOWorkload() ZEOWorkload {
	return ZEOWorkload{Loads: 0.9, Size: 200, Objects: 1000}
}

// Validate checks z before a run.
func (z ZEOWorkload) Validate() error {
	switch {
	case z.Addr == "":
		return errors.New("zeo: no server address")
	case z.Loads < 0 || z.Loads > 1:
		return fmt.Errorf("zeo: loads %g is not a fraction 0…1", z.Loads)
	case z.Size < 1 || z.Size > 16<<20:
		return fmt.Errorf("zeo: size %d is out of range 1…16 MiB", z.Size)
	case z.Objects < 1 || z.Objects > 10_000_000:
		return fmt.Errorf("zeo: objects %d is out of range 1…10000000", z.Objects)
	}
	return nil
}

// ZEO runs workload z with one object-store client per connection of o.
// The objects are created first (in transactions of up to 1000 objects,
// not measured). The result's Target is the server address; statuses are
// empty, errors are counted by kind (conflict, disconnected, timeout,
// server error).
func ZEO(ctx context.Context, z ZEOWorkload, o Options, progress io.Writer) (*Result, error) {
	if err := o.Validate(); err != nil {
		return nil, err
	}
	if err := z.Validate(); err != nil {
		return nil, err
	}
	var clients []*client.Client
	defer func() {
		for _, c := range clients {
			c.Close()
		}
	}()
	for range o.Connections {
		dctx, cancel := context.WithTimeout(ctx, o.Timeout)
		c, err := client.Dial(dctx, z.Addr, z.Client)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("zeo: connecting to %s: %w", z.Addr, err)
		}
		clients = append(clients, c)
	}
	payload := make([]byte, z.Size)
	for i := range payload {
		payload[i] = byte('a' + i%26)
	}
	shared, err := zeoCreate(ctx, clients[0], z.Objects, payload)
	if err != nil {
		return nil, err
	}
	ops := make([]operation, o.Connections)
	for i, c := range clients {
		own, err := zeoCreate(ctx, c, 1, payload)
		if err != nil {
			return nil, err
		}
		w := &zeoWorker{c: c, ctx: ctx, timeout: o.Timeout, z: z, shared: shared, payload: payload,
			own: own[0].oid, serial: own[0].serial, rng: rand.New(rand.NewPCG(o.Seed, uint64(i)))}
		ops[i] = w.do
	}
	res, err := run(ctx, o, ops, progress)
	if res != nil {
		res.Target = fmt.Sprintf("zeo://%s (%.0f%% loads, %d-byte objects)", z.Addr, z.Loads*100, z.Size)
	}
	return res, err
}

type zeoObject struct {
	oid    client.OID
	serial client.TID
}

// zeoCreate stores n new objects through c, in transactions of up to 1000.
func zeoCreate(ctx context.Context, c *client.Client, n int, payload []byte) ([]zeoObject, error) {
	var out []zeoObject
	for len(out) < n {
		batch := min(n-len(out), 1000)
		var oids []client.OID
		for len(oids) < batch {
			more, err := c.NewOIDs(ctx)
			if err != nil {
				return nil, fmt.Errorf("zeo: new_oids: %w", err)
			}
			oids = append(oids, more...)
		}
		oids = oids[:batch]
		tid, err := Commit(ctx, c, oids, make([]client.TID, len(oids)), payload)
		if err != nil {
			return nil, fmt.Errorf("zeo: creating objects: %w", err)
		}
		for _, oid := range oids {
			out = append(out, zeoObject{oid, tid})
		}
	}
	return out, nil
}

// Commit stores payload for each oid (at the given serials) in one
// transaction (tpc_begin, storea, vote, tpc_finish) and returns its tid;
// conflicts found at the vote are an error, since the caller stores raw
// bytes that nothing could resolve.
func Commit(ctx context.Context, c *client.Client, oids []client.OID, serials []client.TID, payload []byte) (client.TID, error) {
	tx, err := c.Begin(ctx, client.TxnMeta{User: "cairn-bench", Description: "load"})
	if err != nil {
		return client.TID{}, err
	}
	defer tx.Abort(ctx) //nolint:errcheck // a no-op after Finish
	for i, oid := range oids {
		if err := tx.Store(oid, serials[i], payload); err != nil {
			return client.TID{}, err
		}
	}
	conflicts, err := tx.Vote(ctx)
	if err != nil {
		return client.TID{}, err
	}
	if len(conflicts) > 0 {
		return client.TID{}, &client.ConflictError{}
	}
	return tx.Finish(ctx)
}

// zeoWorker is one client's state.
type zeoWorker struct {
	c       *client.Client
	ctx     context.Context
	timeout time.Duration
	z       ZEOWorkload
	shared  []zeoObject
	payload []byte
	own     client.OID
	serial  client.TID
	rng     *rand.Rand
}

func (w *zeoWorker) do() outcome {
	ctx, cancel := context.WithTimeout(w.ctx, w.timeout)
	defer cancel()
	if w.rng.Float64() < w.z.Loads {
		rev, err := w.c.Load(ctx, w.shared[w.rng.IntN(len(w.shared))].oid)
		if err != nil {
			return outcome{Err: zeoErrorKind(err)}
		}
		return outcome{Bytes: int64(len(rev.Data))}
	}
	tid, err := Commit(ctx, w.c, []client.OID{w.own}, []client.TID{w.serial}, w.payload)
	if err != nil {
		// The commit may have happened after all (a timeout after
		// tpc_finish was sent): learn the current serial again, within
		// the same timeout.
		lctx, lcancel := context.WithTimeout(w.ctx, w.timeout)
		if rev, lerr := w.c.Load(lctx, w.own); lerr == nil {
			w.serial = rev.Serial
		}
		lcancel()
		return outcome{Err: zeoErrorKind(err)}
	}
	w.serial = tid
	return outcome{}
}

// zeoErrorKind names the class of a failed ZEO operation for the report.
func zeoErrorKind(err error) string {
	var conflict *client.ConflictError
	var server *client.ServerError
	var netErr net.Error
	switch {
	case errors.As(err, &conflict):
		return "conflict"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case errors.Is(err, client.ErrClosed), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, io.EOF):
		return "disconnected"
	case errors.As(err, &server):
		return "server error"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return "other"
}

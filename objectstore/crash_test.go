package objectstore_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/objectstore"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

// TestCrashDuringCommitStorm kills the real binary (SIGKILL) while eight
// clients commit as fast as they can, reopens the file (and its commit
// log) and checks that every transaction whose tpc_finish was answered is
// there, with its data.
func TestCrashDuringCommitStorm(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the real binary")
	}
	binDir := t.TempDir()
	if err := proctest.Build(binDir, "cairn-objectstore"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	data := filepath.Join(dir, "data.db")
	for round := range 3 { // later rounds also check recovery of a crashed file
		addr, admin := proctest.FreePort(t), proctest.FreePort(t)
		p := proctest.Start(t, filepath.Join(binDir, "cairn-objectstore"), "-listen", addr, "-admin", admin, "-data", data)
		p.WaitHealthy(admin)

		type ack struct {
			oid, tid, data []byte
		}
		var mu sync.Mutex
		var acked []ack
		var wg sync.WaitGroup
		for w := range 8 {
			wg.Go(func() {
				c := dialQuiet(addr)
				if c == nil {
					return
				}
				defer c.nc.Close()
				if _, err := c.callQuiet("register", "1", false); err != nil {
					return
				}
				for i := 0; ; i++ {
					oid := p64(uint64(round*1_000_000 + w*100_000 + i + 1))
					payload := fmt.Appendf(nil, "round %d worker %d txn %d %x", round, w, i, rand.Uint64())
					txnid := int64(i + 1)
					c.castQuiet("tpc_begin", txnid, []byte(""), []byte(""), zeo.NewDict(0))
					c.castQuiet("storea", oid, z64, payload, txnid)
					if _, err := c.callQuiet("vote", txnid); err != nil {
						return
					}
					v, err := c.callQuiet("tpc_finish", txnid)
					if err != nil {
						return
					}
					mu.Lock()
					acked = append(acked, ack{oid, v.([]byte), payload})
					mu.Unlock()
				}
			})
		}
		// Up to 2.5 s, so the kill can also land in a checkpoint (every
		// second) of the commit log into the bbolt file.
		time.Sleep(time.Duration(300+rand.IntN(2200)) * time.Millisecond)
		p.Cmd.Process.Kill()
		p.Wait(10 * time.Second)
		wg.Wait()
		if len(acked) == 0 {
			t.Fatalf("round %d: no commit acknowledged before the kill", round)
		}

		db, err := objectstore.Open(data, &objectstore.Options{ReadOnly: true})
		if err != nil {
			t.Fatal(err)
		}
		err = db.Read(func(r *objectstore.Reader) error {
			for _, a := range acked {
				rec, err := r.LoadSerial(objectstore.OID(a.oid), objectstore.TID(a.tid))
				if err != nil || !bytes.Equal(rec.Data, a.data) {
					return fmt.Errorf("acknowledged commit %x of oid %x lost: %v", a.tid, a.oid, err)
				}
			}
			return nil
		})
		db.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("round %d: %d acknowledged commits survived SIGKILL", round, len(acked))
	}
	if _, err := os.Stat(data); err != nil {
		t.Fatal(err)
	}
}

// dialQuiet is dial for goroutines: nil instead of failing the test.
func dialQuiet(addr string) *quietClient {
	c := &quietClient{}
	var err error
	if c.nc, err = netDial(addr); err != nil {
		return nil
	}
	c.r, c.w = zeo.NewReader(c.nc, 0), zeo.NewWriter(c.nc)
	if _, err := zeo.ClientHandshake(c.r, c.w); err != nil {
		return nil
	}
	return c
}

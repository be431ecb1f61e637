package load

import (
	"context"
	"testing"
	"time"

	"github.com/cairnstack/cairn/objectstore/client"
	"github.com/cairnstack/cairn/objectstore/objectstoretest"
)

// TestZEOMode loads a real cairn-objectstore (in-process, on a 127.0.0.1
// port) with loads and commits through the Go client.
func TestZEOMode(t *testing.T) {
	addr, _ := objectstoretest.Start(t, nil)
	c, err := client.Dial(context.Background(), addr, client.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	before, err := c.LastTransaction(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	z := DefaultZEOWorkload()
	z.Addr, z.Loads, z.Objects, z.Size = addr, 0.5, 200, 300
	o := quick()
	o.Duration = time.Second
	res, err := ZEO(context.Background(), z, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests < 20 || res.Errors != 0 {
		t.Fatalf("%d operations, errors %v", res.Requests, res.ErrorKinds)
	}
	after, err := c.LastTransaction(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// 1 creation of the shared set + 4 own objects + the measured commits.
	if commits := after.Uint64() - before.Uint64(); commits == 0 {
		t.Error("no transaction committed")
	}
	if res.BodyBytes == 0 || res.Latency.P50 <= 0 {
		t.Errorf("loads read %d bytes; p50 %v", res.BodyBytes, res.Latency.P50.D())
	}
}

func TestZEOModeRefusesBadInput(t *testing.T) {
	z := DefaultZEOWorkload()
	for _, bad := range []func(*ZEOWorkload){
		func(z *ZEOWorkload) { z.Addr = "" },
		func(z *ZEOWorkload) { z.Addr, z.Loads = "127.0.0.1:1", 1.5 },
		func(z *ZEOWorkload) { z.Addr, z.Size = "127.0.0.1:1", 0 },
	} {
		zz := z
		bad(&zz)
		if _, err := ZEO(context.Background(), zz, quick(), nil); err == nil {
			t.Errorf("%+v accepted", zz)
		}
	}
	// Nobody listening: a clear connection error, not a hang.
	z.Addr = "127.0.0.1:1"
	if _, err := ZEO(context.Background(), z, quick(), nil); err == nil {
		t.Error("a run against a closed port succeeded")
	}
}

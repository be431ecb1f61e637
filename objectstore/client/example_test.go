package client_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cairnstack/cairn/objectstore/client"
)

// Store the root object and read it back, resolving nothing: a conflict
// would come back from Vote for the caller to resolve and store again.
func ExampleDial() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, "127.0.0.1:8501", client.Options{Storage: "1"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	var root client.OID
	serial := client.TID{} // a new object
	if rev, err := c.Load(ctx, root); err == nil {
		serial = rev.Serial
	} else if !errors.Is(err, client.ErrNotFound) {
		fmt.Println(err)
		return
	}
	tx, err := c.Begin(ctx, client.TxnMeta{User: "example", Description: "store the root"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer tx.Abort(ctx) // a no-op after Finish
	tx.Store(root, serial, []byte("a pickle"))
	if conflicts, err := tx.Vote(ctx); err != nil || len(conflicts) > 0 {
		fmt.Println("not committed:", conflicts, err)
		return
	}
	tid, err := tx.Finish(ctx)
	fmt.Println(tid, err)
}

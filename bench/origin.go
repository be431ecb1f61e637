package bench

import (
	"context"
	"flag"
	"fmt"
	"net"

	"github.com/cairnstack/cairn/internal/origin"
)

// OriginOptions configures `cairn-bench origin`.
type OriginOptions struct {
	// Listen is the address served. Default 127.0.0.1:8401 (instance1).
	Listen string
	// Slots bounds the requests handled at once, like Zope's worker
	// threads. 0 means unlimited.
	Slots int
	// Name is sent in the X-Origin header. Default "origin".
	Name string
}

// RegisterFlags registers one flag per field.
func (o *OriginOptions) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.Listen, "listen", "127.0.0.1:8401", "address to serve")
	fs.IntVar(&o.Slots, "slots", 0, "requests handled at once, like Zope's worker threads (0: unlimited)")
	fs.StringVar(&o.Name, "name", "origin", "name sent in the X-Origin header")
}

// ServeOrigin serves the Zope stand-in of internal/origin on o.Listen until
// ctx is cancelled. It answers VirtualHostMonster paths as it answers plain
// ones, which is what both proxies under test send it.
func ServeOrigin(ctx context.Context, o OriginOptions) error {
	ln, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("bench: origin: %w", err)
	}
	if err := origin.New(o.Name, o.Slots).Serve(ctx, ln); err != nil {
		return fmt.Errorf("bench: origin: %w", err)
	}
	return nil
}

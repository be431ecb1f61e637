package objectstore

import (
	"testing"

	"github.com/cairnstack/cairn/objectstore/zeo"
)

// TestUndoPrefixHostileLength: a ZopeUndo Prefix whose state says a
// negative length is matched as Python slices (from the end), not a panic
// that costs the client its connection and the log a stack trace.
func TestUndoPrefixHostileLength(t *testing.T) {
	state := zeo.NewDict(2)
	state.Set("length", int64(-1))
	state.Set("path", zeo.Tuple{"", "site"})
	p, ok := prefixOf(&zeo.Object{Class: zeo.Global{Module: "ZopeUndo.Prefix", Name: "Prefix"}, State: state})
	if !ok {
		t.Fatal("not read as a Prefix")
	}
	for path, want := range map[string]bool{"/site/x": true, "/other/x": false, "": false} {
		if got := p.match([]byte(path)); got != want {
			t.Errorf("match(%q) = %v; want %v", path, got, want)
		}
	}
}

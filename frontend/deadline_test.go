package frontend

import (
	"net"
	"testing"
	"time"
)

// deadlineRecorder is a net.Conn that records the read deadlines set on it.
type deadlineRecorder struct {
	net.Conn
	set []time.Time
}

func (d *deadlineRecorder) SetReadDeadline(t time.Time) error {
	d.set = append(d.set, t)
	return nil
}

func TestCoarseConnDeadlines(t *testing.T) {
	rec := &deadlineRecorder{}
	c := newCoarseConn(rec, 16*time.Second) // slack 1s
	base := time.Now()
	for _, tc := range []struct {
		at      time.Duration // the deadline asked for, after base
		wantSet bool
	}{
		{0, true},                         // nothing armed yet: armed at 1s
		{500 * time.Millisecond, false},   // 1s serves: at most 500ms late
		{time.Second, false},              // exactly on the armed deadline
		{1001 * time.Millisecond, true},   // armed would be early: re-armed
		{-5 * time.Second, true},          // much earlier (shutdown): re-armed
		{-4500 * time.Millisecond, false}, // within slack of the armed -4s
		{-3 * time.Second, true},          // later than armed
	} {
		n := len(rec.set)
		want := base.Add(tc.at)
		if err := c.SetReadDeadline(want); err != nil {
			t.Fatal(err)
		}
		if got := len(rec.set) > n; got != tc.wantSet {
			t.Fatalf("deadline %v: set on the conn %v; want %v", tc.at, got, tc.wantSet)
		}
		if c.read.Before(want) || c.read.Sub(want) > time.Second {
			t.Fatalf("deadline %v: armed %v, outside [asked, asked+slack]", tc.at, c.read.Sub(base))
		}
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		t.Fatal(err)
	}
	if last := rec.set[len(rec.set)-1]; !last.IsZero() || !c.read.IsZero() {
		t.Fatalf("clearing the deadline armed %v", last)
	}
}

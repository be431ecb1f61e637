package load

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"
)

// showProgress writes a progress line to w every second until the
// returned stop is called: on a terminal the line is rewritten in place,
// elsewhere (a CI log) a line is written every five seconds. A nil w shows
// nothing.
func (e *engine) showProgress(ctx context.Context, w io.Writer) (stop func()) {
	if w == nil {
		return func() {}
	}
	every, terminal := 5*time.Second, isTerminal(w)
	if terminal {
		every = time.Second
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		last, lastAt := int64(0), time.Now()
		for {
			select {
			case <-done:
				if terminal {
					fmt.Fprint(w, "\r\033[K")
				}
				return
			case <-ctx.Done():
				return
			case now := <-t.C:
				n := e.done.Load()
				rate := float64(n-last) / now.Sub(lastAt).Seconds()
				last, lastAt = n, now
				phase := "measuring"
				if now.Before(e.measureAt) {
					phase = "warming up"
				}
				line := fmt.Sprintf("%s %s/%s  %d requests  %s req/s  %d errors",
					phase, now.Sub(e.start).Round(time.Second), e.end.Sub(e.start).Round(time.Second),
					n, fmtFloat(rate), e.failed.Load())
				if terminal {
					fmt.Fprint(w, "\r\033[K"+line)
				} else {
					fmt.Fprintln(w, line)
				}
			}
		}
	}()
	return func() { close(done); <-finished }
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

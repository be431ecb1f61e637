package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options shape a run: how load is offered (closed or open model), for how
// long, and what counts.
type Options struct {
	// Connections is the number of concurrent workers, each holding one
	// connection (closed model: N requests in flight, as wrk; open model:
	// at most N in flight, later arrivals wait for a free worker).
	Connections int
	// Rate, when positive, is the open model: requests start at this many
	// per second on a fixed schedule. A request that goes out late because
	// every worker was busy is measured from its scheduled start, so a
	// stalled server is charged for the requests it kept from being sent
	// (coordinated omission correction, as wrk2 does); one sent on time
	// is measured from when it went out.
	Rate float64
	// Duration is the measured time, after WarmUp.
	Duration time.Duration
	// Requests, when positive, ends the run after this many measured
	// requests (or at Duration, whichever comes first).
	Requests int64
	// WarmUp is run before measuring; its requests are not counted.
	WarmUp time.Duration
	// Timeout bounds each request; a request that takes longer counts as
	// a "timeout" error.
	Timeout time.Duration
	// KeepAlive false sends `Connection: close`: one connection per request.
	KeepAlive bool
	// Insecure skips TLS certificate verification (https targets).
	Insecure bool
	// Seed makes the request mix repeatable.
	Seed uint64
	// Label names the target in reports.
	Label string
}

// DefaultOptions are the flags' defaults: 64 connections, 10 s, 2 s warm-up.
func DefaultOptions() Options {
	return Options{Connections: 64, Duration: 10 * time.Second, WarmUp: 2 * time.Second,
		Timeout: 5 * time.Second, KeepAlive: true, Seed: 1}
}

// MaxConnections bounds Connections: each is a goroutine with its own
// buffers and histograms.
const MaxConnections = 10000

// Validate checks o before a run.
func (o Options) Validate() error {
	switch {
	case o.Connections < 1 || o.Connections > MaxConnections:
		return fmt.Errorf("connections: %d is out of range 1…%d", o.Connections, MaxConnections)
	case o.Duration <= 0:
		return errors.New("duration must be positive (every run is bounded in time)")
	case o.Duration > 24*time.Hour:
		return errors.New("duration: at most 24h")
	case o.WarmUp < 0:
		return errors.New("warm-up must not be negative")
	case o.Requests < 0:
		return errors.New("requests must not be negative")
	case o.Rate < 0 || o.Rate > 10_000_000:
		return fmt.Errorf("rate: %g is out of range 0…10000000", o.Rate)
	case o.Timeout <= 0:
		return errors.New("timeout must be positive")
	}
	return nil
}

// Model names the load model for reports.
func (o Options) Model() string {
	if o.Rate > 0 {
		return "open"
	}
	return "closed"
}

// outcome is what one operation reports to the engine.
type outcome struct {
	Status int    // HTTP status; 0 when there is none (ZEO, or an error)
	Err    string // error kind; "" on success
	Bytes  int64  // bytes received
}

// operation performs one request (or ZEO operation) for one worker; it is
// only ever called from that worker's goroutine.
type operation func() outcome

// run drives ops (one per worker) under o and collects the result. It
// returns when the run is over, ctx is cancelled (the partial result is
// returned with ctx's error), and every worker has stopped.
func run(ctx context.Context, o Options, ops []operation, progress io.Writer) (*Result, error) {
	if len(ops) != o.Connections {
		panic("load: one operation per connection") // programmer error
	}
	return runWith(ctx, o, progress, func(ctx context.Context, e *engine) { e.workAll(ctx, ops) })
}

// workAll runs one worker goroutine per op until the run is over.
func (e *engine) workAll(ctx context.Context, ops []operation) {
	var wg sync.WaitGroup
	for i, op := range ops {
		wg.Go(func() { e.work(ctx, i, op) })
	}
	wg.Wait()
}

// runWith sets up the engine of one run, calls drive (which returns when
// the run is over), and collects the result.
func runWith(ctx context.Context, o Options, progress io.Writer, drive func(context.Context, *engine)) (*Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cpu0 := processCPU()
	start := time.Now()
	e := &engine{
		o:         o,
		start:     start,
		measureAt: start.Add(o.WarmUp),
		end:       start.Add(o.WarmUp + o.Duration),
	}
	e.rec = newRecorder(e.measureAt, o.Duration, 4*runtime.GOMAXPROCS(0))
	if o.Rate > 0 {
		e.interval = time.Duration(float64(time.Second) / o.Rate)
	}
	stopProgress := e.showProgress(ctx, progress)
	drive(ctx, e)
	stopped := time.Now()
	stopProgress()
	res := e.result(stopped, processCPU()-cpu0)
	return res, ctx.Err()
}

// engine is the state the workers of one run share.
type engine struct {
	o         Options
	start     time.Time
	measureAt time.Time // end of warm-up
	end       time.Time
	interval  time.Duration // open model: time between scheduled starts
	next      atomic.Int64  // open model: the next schedule slot
	measured  atomic.Int64  // measured requests started (for Options.Requests)
	done      atomic.Int64  // measured requests completed (progress)
	failed    atomic.Int64  // of those, errors (progress)
	rec       *recorder
}

// work is one worker's loop.
func (e *engine) work(ctx context.Context, i int, op operation) {
	var timer *time.Timer
	for ctx.Err() == nil {
		var begin time.Time
		if e.interval > 0 {
			slot := e.next.Add(1) - 1
			begin = e.start.Add(time.Duration(slot) * e.interval)
			if !begin.Before(e.end) {
				return
			}
			if d := time.Until(begin); d > 0 {
				if timer == nil {
					timer = time.NewTimer(d)
				} else {
					timer.Reset(d)
				}
				select {
				case <-timer.C:
				case <-ctx.Done():
					return
				}
				// The worker was ahead of schedule, so the server held
				// nothing up: the clock starts when the request goes out.
				// Go's timers wake up to a millisecond late, and that
				// lateness is the generator's, not the server's.
				begin = time.Now()
			}
			// A worker behind schedule keeps the scheduled start: the
			// time the request waited for a free connection is the
			// server's doing (coordinated omission correction).
			// Past the end, the backlog of a server that fell behind is
			// not sent (as wrk2); what is in flight completes.
			if !time.Now().Before(e.end) {
				return
			}
		} else {
			begin = time.Now()
		}
		measured, ok := e.admit(begin)
		if !ok {
			return
		}
		out := op()
		e.finish(i, measured, begin, time.Now(), out)
	}
}

// admit decides whether a request starting at begin is sent: not at or
// past the end, and, when it is measured, within Options.Requests.
func (e *engine) admit(begin time.Time) (measured, ok bool) {
	if !begin.Before(e.end) {
		return false, false
	}
	measured = !begin.Before(e.measureAt)
	if measured && e.o.Requests > 0 && e.measured.Add(1) > e.o.Requests {
		return false, false
	}
	return measured, true
}

// finish records a request's outcome for worker i, if it is measured.
func (e *engine) finish(i int, measured bool, begin, end time.Time, out outcome) {
	if !measured {
		return
	}
	e.rec.record(i, begin, end, out)
	e.done.Add(1)
	if out.Err != "" {
		e.failed.Add(1)
	}
}

// processCPU is this process's user+system CPU time so far: the
// generator's own cost, reported so that a saturated generator shows.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

package load

import (
	"sync"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"
)

// Latencies are recorded in nanoseconds, from 1 ns to an hour, with three
// significant digits (HDR histograms: constant memory, 0.1 % error at any
// percentile). The time series keeps two digits per interval.
const (
	maxLatency   = int64(time.Hour)
	totalDigits  = 3
	seriesDigits = 2
	maxPoints    = 300 // time series intervals per run
)

// recorder collects the outcomes of measured requests. Workers share a few
// shards, each behind its own mutex: a histogram per worker would cost
// 270 KB each (10,000 connections: 2.7 GB), one shared lock would make the
// workers queue on it.
type recorder struct {
	at     time.Time     // start of measurement
	step   time.Duration // time series interval
	shards []shard
}

type shard struct {
	mu       sync.Mutex
	hist     *hdrhistogram.Histogram
	statuses map[int]int64
	errors   map[string]int64
	bytes    int64
	points   map[int]*point // by interval index
	_        [64]byte       // keep shards' locks on their own cache lines
}

// point is one interval of the time series.
type point struct {
	requests, errors int64
	hist             *hdrhistogram.Histogram
}

func newRecorder(at time.Time, d time.Duration, nShards int) *recorder {
	step := time.Second
	if d > maxPoints*time.Second {
		step = (d + maxPoints - 1) / maxPoints
		step = step.Round(time.Second)
	}
	r := &recorder{at: at, step: step, shards: make([]shard, nShards)}
	for i := range r.shards {
		r.shards[i].init()
	}
	return r
}

func (s *shard) init() {
	s.hist = hdrhistogram.New(1, maxLatency, totalDigits)
	s.statuses, s.errors, s.points = map[int]int64{}, map[string]int64{}, map[int]*point{}
}

// point returns the time series point idx, made on first use.
func (s *shard) point(idx int) *point {
	p := s.points[idx]
	if p == nil {
		p = &point{hist: hdrhistogram.New(1, maxLatency, seriesDigits)}
		s.points[idx] = p
	}
	return p
}

// record files one measured request for the worker using shard i. A
// request that failed (refused, reset, timed out, cut short) counts as an
// error of its kind only, as wrk counts socket errors: neither among the
// requests nor in the latencies, where a refused connection's few
// microseconds would make a dead server look fast.
func (r *recorder) record(i int, begin, finish time.Time, out outcome) {
	lat := min(max(int64(finish.Sub(begin)), 1), maxLatency)
	idx := int(finish.Sub(r.at) / r.step)
	s := &r.shards[i%len(r.shards)]
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.point(idx)
	if out.Err != "" {
		s.errors[out.Err]++
		p.errors++
		return
	}
	s.hist.RecordValue(lat) //nolint:errcheck // clamped into range
	if out.Status != 0 {
		s.statuses[out.Status]++
	}
	s.bytes += out.Bytes
	p.requests++
	p.hist.RecordValue(lat) //nolint:errcheck // clamped into range
}

// merge adds every shard up into one; call it after the workers stopped.
func (r *recorder) merge() *shard {
	m := new(shard)
	m.init()
	for i := range r.shards {
		s := &r.shards[i]
		s.mu.Lock()
		m.hist.Merge(s.hist)
		for k, v := range s.statuses {
			m.statuses[k] += v
		}
		for k, v := range s.errors {
			m.errors[k] += v
		}
		m.bytes += s.bytes
		for idx, p := range s.points {
			q := m.point(idx)
			q.requests += p.requests
			q.errors += p.errors
			q.hist.Merge(p.hist)
		}
		s.mu.Unlock()
	}
	return m
}

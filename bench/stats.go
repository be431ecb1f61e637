package bench

import (
	"errors"
	"math"
	"slices"
	"time"
)

// run is one measured wrk run against one server.
type run struct {
	Load      wrkResult
	ServerCPU time.Duration // server process tree, during the run
	OriginCPU time.Duration // origin, during the run
	PeakRSS   int64         // bytes, server process tree
}

// CPUPerRequest is the server's CPU time per answered request, in µs.
func (r run) CPUPerRequest() float64 { return perRequest(r.ServerCPU, r.Load.Requests) }

// OriginCPUPerRequest is the origin's CPU time per request, in µs.
func (r run) OriginCPUPerRequest() float64 { return perRequest(r.OriginCPU, r.Load.Requests) }

// LoadCores is wrk's own CPU in cores (1.0: one core busy all the run).
func (r run) LoadCores() float64 {
	if r.Load.Elapsed <= 0 {
		return math.NaN()
	}
	return r.Load.CPU.Seconds() / r.Load.Elapsed.Seconds()
}

func perRequest(d time.Duration, n int64) float64 {
	if n <= 0 {
		return math.NaN()
	}
	return float64(d.Microseconds()) / float64(n)
}

// median of xs (mean of the middle two for an even count); NaN when empty.
// xs is not modified.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// medianOf applies f to every run and returns the median.
func medianOf(runs []run, f func(run) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// summary is the medians of one server's runs of one scenario.
type summary struct {
	RPS, P50, P99, CPU, RSS float64 // req/s, ms, ms, µs/req, bytes
	LoadCores, OriginCPU    float64 // load generator cores, origin µs/req
	Errors                  int64   // over all runs
}

func summarize(runs []run) summary {
	s := summary{
		RPS:       medianOf(runs, func(r run) float64 { return r.Load.RPS }),
		P50:       medianOf(runs, func(r run) float64 { return ms(r.Load.P50) }),
		P99:       medianOf(runs, func(r run) float64 { return ms(r.Load.P99) }),
		CPU:       medianOf(runs, run.CPUPerRequest),
		RSS:       medianOf(runs, func(r run) float64 { return float64(r.PeakRSS) }),
		LoadCores: medianOf(runs, run.LoadCores),
		OriginCPU: medianOf(runs, run.OriginCPUPerRequest),
	}
	for _, r := range runs {
		s.Errors += r.Load.Errors()
	}
	return s
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// ratio is a/b, NaN when b is zero.
func ratio(a, b float64) float64 {
	if b == 0 {
		return math.NaN()
	}
	return a / b
}

// checkRuns validates the shape every suite shares: at least one run, each
// at least a second long (CPU times have the kernel's 10 ms resolution).
func checkRuns(runs int, d time.Duration) error {
	switch {
	case runs < 1:
		return errors.New("bench: -runs must be at least 1")
	case d < time.Second:
		return errors.New("bench: -duration must be at least 1s (CPU times have 10 ms resolution)")
	}
	return nil
}

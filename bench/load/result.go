package load

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Result is what a run measured. It is written as text, JSON (the fields'
// names below, latencies in milliseconds) or an HTML report.
type Result struct {
	Label       string    `json:"label"`
	Target      string    `json:"target"`
	Model       string    `json:"model"` // "closed" or "open"
	Connections int       `json:"connections"`
	Rate        float64   `json:"rate,omitempty"` // open model: offered req/s
	KeepAlive   bool      `json:"keep_alive"`
	Started     time.Time `json:"started"`
	WarmUp      Millis    `json:"warm_up_ms"`
	Elapsed     Millis    `json:"elapsed_ms"` // the measured window, warm-up excluded

	Requests   int64            `json:"requests"` // measured, completed
	Throughput float64          `json:"throughput"`
	BodyBytes  int64            `json:"body_bytes"`  // response bodies received
	Errors     int64            `json:"errors"`      // requests without a response
	ErrorKinds map[string]int64 `json:"error_kinds"` // by kind
	Statuses   map[string]int64 `json:"statuses"`    // by HTTP status code
	// Non2xx3xx counts responses with other statuses (as wrk does).
	Non2xx3xx int64 `json:"non_2xx_3xx"`

	Latency     Summary      `json:"latency"`
	Percentiles []Percentile `json:"percentiles"` // the curve
	Series      []Interval   `json:"series"`      // over time

	// GeneratorCPU is this process's CPU time during the run, and
	// GeneratorCores that divided by the run's time: near the machine's
	// core count, the generator itself was the bottleneck.
	GeneratorCPU   Millis  `json:"generator_cpu_ms"`
	GeneratorCores float64 `json:"generator_cores"`
}

// Summary is the latency distribution in a few numbers.
type Summary struct {
	Min    Millis `json:"min_ms"`
	Mean   Millis `json:"mean_ms"`
	StdDev Millis `json:"stddev_ms"`
	P50    Millis `json:"p50_ms"`
	P90    Millis `json:"p90_ms"`
	P99    Millis `json:"p99_ms"`
	P999   Millis `json:"p99_9_ms"`
	Max    Millis `json:"max_ms"`
}

// Percentile is one point of the latency percentile curve.
type Percentile struct {
	Percentile float64 `json:"percentile"`
	Latency    Millis  `json:"latency_ms"`
}

// Interval is one point of the time series.
type Interval struct {
	At       Millis  `json:"at_ms"` // since measuring began
	Requests int64   `json:"requests"`
	Errors   int64   `json:"errors"`
	Rate     float64 `json:"rate"` // req/s in the interval
	P50      Millis  `json:"p50_ms"`
	P99      Millis  `json:"p99_ms"`
}

// Millis is a duration written in JSON as milliseconds (a number).
type Millis time.Duration

// D is m as a time.Duration.
func (m Millis) D() time.Duration { return time.Duration(m) }

// MarshalJSON writes m as milliseconds.
func (m Millis) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(m)/1e6, 'f', -1, 64), nil
}

// UnmarshalJSON reads milliseconds.
func (m *Millis) UnmarshalJSON(b []byte) error {
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*m = Millis(math.Round(f * 1e6))
	return nil
}

// curve is where the percentile curve is sampled: evenly to 90, then each
// further "nine" in steps, as HdrHistogram's own plots do.
var curve = []float64{0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96.25, 97.5, 98.75,
	99, 99.25, 99.5, 99.75, 99.9, 99.925, 99.95, 99.975, 99.99, 99.999, 100}

// result builds the Result once the workers have stopped.
func (e *engine) result(stopped time.Time, cpu time.Duration) *Result {
	m := e.rec.merge()
	r := &Result{
		Label:       e.o.Label,
		Model:       e.o.Model(),
		Connections: e.o.Connections,
		Rate:        e.o.Rate,
		KeepAlive:   e.o.KeepAlive,
		Started:     e.start,
		WarmUp:      Millis(e.o.WarmUp),
		// Requests that started in the measured window count; the window
		// ends at the run's end (or earlier, after -n or an interrupt),
		// not when the last of them came back, which would understate
		// the rate by the latency of the last requests.
		Elapsed:      Millis(max(e.end.Sub(e.measureAt)-max(e.end.Sub(stopped), 0), 0)),
		Requests:     m.hist.TotalCount(),
		BodyBytes:    m.bytes,
		ErrorKinds:   m.errors,
		Statuses:     map[string]int64{},
		GeneratorCPU: Millis(cpu),
	}
	if s := stopped.Sub(e.start).Seconds(); s > 0 {
		r.GeneratorCores = cpu.Seconds() / s
	}
	if s := r.Elapsed.D().Seconds(); s > 0 {
		r.Throughput = float64(r.Requests) / s
	}
	for _, n := range m.errors {
		r.Errors += n
	}
	for code, n := range m.statuses {
		r.Statuses[strconv.Itoa(code)] = n
		if code < 200 || code >= 400 {
			r.Non2xx3xx += n
		}
	}
	h := m.hist
	if h.TotalCount() > 0 {
		r.Latency = Summary{
			Min: Millis(h.Min()), Mean: Millis(h.Mean()), StdDev: Millis(h.StdDev()),
			P50: Millis(h.ValueAtPercentile(50)), P90: Millis(h.ValueAtPercentile(90)),
			P99: Millis(h.ValueAtPercentile(99)), P999: Millis(h.ValueAtPercentile(99.9)),
			Max: Millis(h.Max()),
		}
		for _, p := range curve {
			r.Percentiles = append(r.Percentiles, Percentile{p, Millis(h.ValueAtPercentile(p))})
		}
	}
	// Every interval from the start has a point, none completed or not: a
	// stall is a zero in the series, not a gap the chart draws across.
	if len(m.points) > 0 {
		for idx := range slices.Max(slices.Collect(maps.Keys(m.points))) {
			m.point(idx)
		}
	}
	idxs := slices.Sorted(maps.Keys(m.points))
	for n, idx := range idxs {
		p := m.points[idx]
		at := time.Duration(idx) * e.rec.step
		width := min(e.rec.step, r.Elapsed.D()-at)
		// The requests in flight at the end finish in a sliver of an
		// interval; on its own it would plot as a spike.
		if n == len(idxs)-2 && idxs[n+1] == idx+1 {
			if last := m.points[idx+1]; r.Elapsed.D()-at-e.rec.step < e.rec.step/2 {
				p.requests += last.requests
				p.errors += last.errors
				p.hist.Merge(last.hist)
				width = r.Elapsed.D() - at
				idxs = idxs[:n+1]
			}
		}
		iv := Interval{At: Millis(at), Requests: p.requests, Errors: p.errors,
			P50: Millis(p.hist.ValueAtPercentile(50)), P99: Millis(p.hist.ValueAtPercentile(99))}
		if width > 0 {
			iv.Rate = float64(p.requests) / width.Seconds()
		}
		r.Series = append(r.Series, iv)
		if n == len(idxs)-1 {
			break
		}
	}
	return r
}

// WriteText writes r in the manner of wrk's summary.
func (r *Result) WriteText(w io.Writer) error {
	var b strings.Builder
	model := fmt.Sprintf("closed model, %d connections", r.Connections)
	if r.Model == "open" {
		model = fmt.Sprintf("open model at %s req/s, up to %d connections", fmtFloat(r.Rate), r.Connections)
	}
	if !r.KeepAlive {
		model += ", no keep-alive"
	}
	fmt.Fprintf(&b, "%s: %s, %s measured after %s warm-up\n", r.Target, model,
		r.Elapsed.D().Round(time.Millisecond), r.WarmUp.D())
	fmt.Fprintf(&b, "  requests     %d (%s req/s), %s of bodies\n", r.Requests, fmtFloat(r.Throughput), fmtBytes(r.BodyBytes))
	l := r.Latency
	fmt.Fprintf(&b, "  latency      min %s  mean %s  stddev %s  max %s\n", fmtMs(l.Min), fmtMs(l.Mean), fmtMs(l.StdDev), fmtMs(l.Max))
	fmt.Fprintf(&b, "  percentiles  p50 %s  p90 %s  p99 %s  p99.9 %s\n", fmtMs(l.P50), fmtMs(l.P90), fmtMs(l.P99), fmtMs(l.P999))
	fmt.Fprintf(&b, "  statuses     %s\n", fmtCounts(r.Statuses))
	if r.Errors > 0 {
		fmt.Fprintf(&b, "  errors       %d: %s\n", r.Errors, fmtCounts(r.ErrorKinds))
	}
	if r.Non2xx3xx > 0 {
		fmt.Fprintf(&b, "  non-2xx/3xx  %d\n", r.Non2xx3xx)
	}
	fmt.Fprintf(&b, "  generator    %s CPU, %.2f cores\n", r.GeneratorCPU.D().Round(time.Millisecond), r.GeneratorCores)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteJSON writes r as indented JSON.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

func fmtMs(m Millis) string {
	d := m.D()
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/1e3)
	}
}

func fmtFloat(v float64) string {
	if v >= 100 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', 2, 64)
}

func fmtBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.2f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// fmtCounts writes a count map as "k: n, k: n" in key order.
func fmtCounts(m map[string]int64) string {
	if len(m) == 0 {
		return "none"
	}
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, fmt.Sprintf("%s: %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

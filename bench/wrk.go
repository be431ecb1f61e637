package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is one wrk run as wrk reported it, plus wrk's own CPU time.
type wrkResult struct {
	Requests     int64         // "N requests in …"
	Elapsed      time.Duration // "… in 10.00s"
	RPS          float64       // "Requests/sec:"
	P50, P99     time.Duration // "Latency Distribution" (needs --latency)
	Non2xx       int64         // "Non-2xx or 3xx responses:" (wrk counts status ≥ 400)
	SocketErrors int64         // connect + read + write + timeout
	CPU          time.Duration // wrk's user+system time, from its rusage
}

// Errors is every failed request wrk saw.
func (r wrkResult) Errors() int64 { return r.Non2xx + r.SocketErrors }

var errWrkOutput = errors.New("bench: unexpected wrk output")

// parseWrk reads the summary wrk 4 prints with --latency. Lines it does not
// know are skipped; the request count, the duration, Requests/sec and the
// 50 % and 99 % latencies must be present.
func parseWrk(out string) (wrkResult, error) {
	var r wrkResult
	var seen struct{ requests, rps, p50, p99 bool }
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		var err error
		switch {
		case len(f) == 0:
		case len(f) >= 4 && f[1] == "requests" && f[2] == "in":
			seen.requests = true
			r.Requests, r.Elapsed, err = parseRequestsLine(f)
		case f[0] == "Requests/sec:" && len(f) == 2:
			seen.rps = true
			r.RPS, err = strconv.ParseFloat(f[1], 64)
		case f[0] == "50%" && len(f) == 2:
			seen.p50 = true
			r.P50, err = parseWrkDuration(f[1])
		case f[0] == "99%" && len(f) == 2:
			seen.p99 = true
			r.P99, err = parseWrkDuration(f[1])
		case f[0] == "Socket" && len(f) > 1 && f[1] == "errors:":
			r.SocketErrors, err = parseSocketErrors(f[2:])
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:") && len(f) == 5:
			r.Non2xx, err = strconv.ParseInt(f[4], 10, 64)
		}
		if err != nil {
			return wrkResult{}, fmt.Errorf("%w: line %q: %v", errWrkOutput, sc.Text(), err)
		}
	}
	if !seen.requests || !seen.rps || !seen.p50 || !seen.p99 {
		return wrkResult{}, fmt.Errorf("%w: no request count, Requests/sec or latency distribution (was --latency given?)", errWrkOutput)
	}
	return r, nil
}

// parseRequestsLine parses "400000 requests in 10.00s, 50.00MB read".
func parseRequestsLine(f []string) (int64, time.Duration, error) {
	n, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	d, err := parseWrkDuration(strings.TrimSuffix(f[3], ","))
	return n, d, err
}

// parseSocketErrors parses "connect 0, read 1, write 0, timeout 2" (split
// into fields) and returns the sum.
func parseSocketErrors(f []string) (int64, error) {
	if len(f)%2 != 0 {
		return 0, errors.New("odd socket error fields")
	}
	var sum int64
	for i := 1; i < len(f); i += 2 {
		n, err := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("socket error count %q", f[i])
		}
		sum += n
	}
	return sum, nil
}

// wrkTimeUnits are the units wrk's format_time_us and format_time_s print.
var wrkTimeUnits = []struct {
	suffix string
	unit   time.Duration
}{
	// "us" and "ms" before "s", which they end with.
	{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour},
}

// parseWrkDuration parses wrk's "123.45us", "1.20ms", "10.00s", "1.00m".
func parseWrkDuration(s string) (time.Duration, error) {
	for _, u := range wrkTimeUnits {
		num, ok := strings.CutSuffix(s, u.suffix)
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(num, 64)
		if err != nil || !(v >= 0 && v <= 1e6) { // also refuses NaN
			return 0, fmt.Errorf("duration %q", s)
		}
		return time.Duration(math.Round(v * float64(u.unit))), nil
	}
	return 0, fmt.Errorf("duration %q: unknown unit", s)
}

// wrkLoad is how wrk drives one run.
type wrkLoad struct {
	Threads     int
	Connections int
	Duration    time.Duration
	Headers     []string // "Name: value", sent with every request (wrk -H)
}

// with is l sending headers too.
func (l wrkLoad) with(headers []string) wrkLoad {
	l.Headers = headers
	return l
}

// runWrk runs wrk against url and returns its parsed summary. It is
// bounded: wrk's own socket timeout, and a kill after the run's duration
// plus half a minute.
func runWrk(ctx context.Context, url string, l wrkLoad) (wrkResult, error) {
	ctx, cancel := context.WithTimeout(ctx, l.Duration+30*time.Second)
	defer cancel()
	args := []string{"-t" + strconv.Itoa(l.Threads), "-c" + strconv.Itoa(l.Connections),
		"-d" + strconv.Itoa(max(1, int(l.Duration.Round(time.Second)/time.Second))) + "s", "--latency", "--timeout", "5s"}
	for _, h := range l.Headers {
		args = append(args, "-H", h)
	}
	cmd := exec.CommandContext(ctx, "wrk", append(args, url)...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil { // interrupted or over time: say so, not "killed"
			err = ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("wrk %s: %w %s", url, err, strings.TrimSpace(errOut.String()))
	}
	r, err := parseWrk(out.String())
	if err != nil {
		return wrkResult{}, fmt.Errorf("%w\n%s", err, out.String())
	}
	r.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, nil
}

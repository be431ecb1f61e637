package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/cairnstack/cairn/bench/load"
)

// Load generators a suite can drive its runs with.
const (
	genWrk   = "wrk"
	genCairn = "cairn"
)

// generate runs one load of l against url with the generator gen: wrk, or
// cairn-bench's own (loadCommand, the caller's `cairn-bench load`). Both
// come back as a wrkResult, the generator's CPU included.
func generate(ctx context.Context, gen string, loadCommand []string, url string, l wrkLoad) (wrkResult, error) {
	res, err := generateOnce(ctx, gen, loadCommand, url, l)
	if err == nil && ctx.Err() != nil {
		// wrk exits 0 on SIGINT with a summary of what it did: a run cut
		// short is no result (it would be published as a whole one).
		err = fmt.Errorf("load cut short: %w", ctx.Err())
	}
	return res, err
}

func generateOnce(ctx context.Context, gen string, loadCommand []string, url string, l wrkLoad) (wrkResult, error) {
	if gen != genCairn {
		return runWrk(ctx, url, l)
	}
	ctx, cancel := context.WithTimeout(ctx, l.Duration+30*time.Second)
	defer cancel()
	argv := append(append([]string(nil), loadCommand...), "-q", "-format", "json",
		"-c", strconv.Itoa(l.Connections), "-d", l.Duration.String(), "-warmup", "0s", "-timeout", "5s")
	for _, h := range l.Headers {
		argv = append(argv, "-H", h)
	}
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], url)...)
	var errOut strings.Builder
	cmd.Stderr = &errOut
	out, err := cmd.Output()
	if err != nil {
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return wrkResult{}, fmt.Errorf("cairn-bench load %s: %w %s", url, err, strings.TrimSpace(errOut.String()))
	}
	var res load.Result
	if err := json.Unmarshal(out, &res); err != nil {
		return wrkResult{}, fmt.Errorf("cairn-bench load report: %w", err)
	}
	return wrkResult{
		Requests: res.Requests, Elapsed: res.Elapsed.D(), RPS: res.Throughput,
		P50: res.Latency.P50.D(), P99: res.Latency.P99.D(),
		Non2xx: res.Non2xx3xx, SocketErrors: res.Errors,
		CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime(),
	}, nil
}

// generatorCommand describes one run of gen for a report's method line.
func generatorCommand(gen string, threads, connections int, d time.Duration) string {
	if gen == genCairn {
		return fmt.Sprintf("`cairn-bench load -c%d -d%s`", connections, d)
	}
	return fmt.Sprintf("`wrk -t%d -c%d -d%s --latency`", threads, connections, d)
}

package bench

import (
	"fmt"
	"strings"
	"time"
)

// ZEOReport is the outcome of CompareZEO, rendered by Markdown.
type ZEOReport struct {
	Machine    string // CPUs, CPU model, kernel
	Versions   string // ZEO, ZODB, Python, Go
	Command    string // the command that reproduces the run
	Method     string // workload, runs, what is measured
	PeakPerRun bool   // VmHWM was reset before each run (else: peak so far)
	Results    []ZEOResult
}

// ZEOResult holds the runs of one scenario, per server.
type ZEOResult struct {
	Scenario   zeoScenario
	ZEO, Cairn []zeoRun
}

// zeoSummary is the medians of one server's runs of one scenario.
type zeoSummary struct {
	Rate, P50, P99, CPU, ClientCPU, RSS float64 // ops/s, ms, ms, µs/op, µs/op, bytes
}

func zeoSummarize(runs []zeoRun) zeoSummary {
	return zeoSummary{
		Rate:      zeoMedianOf(runs, func(r zeoRun) float64 { return r.Rate }),
		P50:       zeoMedianOf(runs, func(r zeoRun) float64 { return ms(r.P50) }),
		P99:       zeoMedianOf(runs, func(r zeoRun) float64 { return ms(r.P99) }),
		CPU:       zeoMedianOf(runs, zeoRun.ServerCPUPerOp),
		ClientCPU: zeoMedianOf(runs, zeoRun.ClientCPUPerOp),
		RSS:       zeoMedianOf(runs, func(r zeoRun) float64 { return float64(r.PeakRSS) }),
	}
}

func zeoMedianOf(runs []zeoRun, f func(zeoRun) float64) float64 {
	xs := make([]float64, len(runs))
	for i, r := range runs {
		xs[i] = f(r)
	}
	return median(xs)
}

// Markdown renders the summary table, the goal, the method and, folded,
// every run.
func (r *ZEOReport) Markdown() string {
	var b strings.Builder
	b.WriteString("| driver | scenario | ZEO ops/s | cairn ops/s | ratio | ZEO p50 / p99 ms | cairn p50 / p99 ms | ZEO server CPU µs/op | cairn server CPU µs/op | ratio | ZEO peak RSS | cairn peak RSS | client CPU µs/op (ZEO / cairn runs) |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range r.Results {
		z, c := zeoSummarize(res.ZEO), zeoSummarize(res.Cairn)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s / %s |\n",
			zeoDriverName(res.Scenario.Driver), res.Scenario.Name(),
			fmtRPS(z.Rate), fmtRPS(c.Rate), fmtRatio(ratio(c.Rate, z.Rate)),
			zeoLatency(res.Scenario, z), zeoLatency(res.Scenario, c),
			fmtFloat(z.CPU, 0), fmtFloat(c.CPU, 0), fmtRatio(ratio(c.CPU, z.CPU)),
			fmtMiB(z.RSS), fmtMiB(c.RSS), fmtFloat(z.ClientCPU, 0), fmtFloat(c.ClientCPU, 0))
	}
	b.WriteString("\n" + r.verdict() + "\n\n")
	b.WriteString(r.Method + " Ratios are cairn/ZEO. ")
	b.WriteString(caveats(r.PeakPerRun))
	b.WriteString(provenance(r.Machine, r.Versions, r.Command))
	b.WriteString(r.runsTable())
	return b.String()
}

func zeoDriverName(d string) string {
	if d == "go" {
		return "Go"
	}
	return "Python"
}

// zeoMS formats a latency in ms; loads have none.
func zeoMS(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmtFloat(ms(d), 2)
}

func zeoLatency(sc zeoScenario, s zeoSummary) string {
	if sc.Kind != "commit" {
		return "–"
	}
	return fmtFloat(s.P50, 2) + " / " + fmtFloat(s.P99, 2)
}

// verdict states performance.md's goal for the Python-client rows:
// server CPU per operation at most a third of ZEO's, and commits/s and
// p99 no worse.
func (r *ZEOReport) verdict() string {
	var parts []string
	for _, res := range r.Results {
		if res.Scenario.Driver != "python" {
			continue
		}
		z, c := zeoSummarize(res.ZEO), zeoSummarize(res.Cairn)
		cpu, rate := ratio(c.CPU, z.CPU), ratio(c.Rate, z.Rate)
		ok := cpu <= 1.0/3 && rate >= 1
		detail := fmt.Sprintf("CPU %s, rate %s", fmtRatio(cpu), fmtRatio(rate))
		if res.Scenario.Kind == "commit" {
			p99 := ratio(c.P99, z.P99)
			ok = ok && p99 <= 1
			detail += ", p99 " + fmtRatio(p99)
		}
		mark := "met"
		if !ok {
			mark = "not met"
		}
		parts = append(parts, fmt.Sprintf("%s %s (%s)", res.Scenario.Name(), mark, detail))
	}
	if len(parts) == 0 {
		return "Goal (performance.md) applies to the Python-client rows, which were not run."
	}
	return "Goal (performance.md, Python clients): server CPU per commit and per load ≤ 1/3 of ZEO's, commits/s and p99 no worse. " +
		strings.Join(parts, "; ") + ". The Go-client rows show what each server does under a lighter client."
}

// runsTable lists every run, folded, so that a median can be checked.
func (r *ZEOReport) runsTable() string {
	var b strings.Builder
	b.WriteString("\n<details><summary>Every run</summary>\n\n")
	b.WriteString("| driver | scenario | server | run | ops/s | p50 ms | p99 ms | server CPU µs/op | client CPU µs/op | peak RSS |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, res := range r.Results {
		for _, s := range []struct {
			name string
			runs []zeoRun
		}{{"ZEO", res.ZEO}, {"cairn", res.Cairn}} {
			for i, x := range s.runs {
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s |\n",
					zeoDriverName(res.Scenario.Driver), res.Scenario.Name(), s.name, i+1, fmtRPS(x.Rate),
					zeoMS(x.P50), zeoMS(x.P99), fmtFloat(x.ServerCPUPerOp(), 0),
					fmtFloat(x.ClientCPUPerOp(), 0), fmtMiB(float64(x.PeakRSS)))
			}
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

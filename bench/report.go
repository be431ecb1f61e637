package bench

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"
)

// Report is the outcome of a comparison, rendered by Markdown.
type Report struct {
	Machine    string // CPUs, CPU model, kernel
	Versions   string // nginx, wrk, Go
	Command    string // the command that reproduces the run
	Method     string // load, runs, warm-up, origin
	PeakPerRun bool   // VmHWM was reset before each run (else: peak so far)
	Results    []ScenarioResult
}

// ScenarioResult holds the runs of one scenario, per server.
type ScenarioResult struct {
	Name         string
	Nginx, Cairn []run
}

// Markdown renders the summary table, the load generator's share, the
// machine line and, folded, every run.
func (r *Report) Markdown() string {
	var b strings.Builder
	b.WriteString("| scenario | nginx req/s | cairn req/s | ratio | nginx p50/p99 ms | cairn p50/p99 ms | nginx CPU µs/req | cairn CPU µs/req | ratio | nginx peak RSS | cairn peak RSS | ratio |\n")
	b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, sr := range r.Results {
		n, c := summarize(sr.Nginx), summarize(sr.Cairn)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
			sr.label(n, c), fmtRPS(n.RPS), fmtRPS(c.RPS), fmtRatio(ratio(c.RPS, n.RPS)),
			fmtLatency(n), fmtLatency(c), fmtFloat(n.CPU, 1), fmtFloat(c.CPU, 1), fmtRatio(ratio(c.CPU, n.CPU)),
			fmtMiB(n.RSS), fmtMiB(c.RSS), fmtRatio(ratio(c.RSS, n.RSS)))
	}
	b.WriteString("\n" + r.verdict() + "\n\n")
	b.WriteString(r.Method + " Ratios are cairn/nginx. ")
	b.WriteString(caveats(r.PeakPerRun) + "\n")
	b.WriteString(r.loadTable())
	b.WriteString(provenance(r.Machine, r.Versions, r.Command))
	b.WriteString(r.runsTable())
	return b.String()
}

// label is the scenario name, flagged when any run saw failed requests.
func (sr ScenarioResult) label(n, c summary) string {
	if n.Errors+c.Errors > 0 {
		return sr.Name + " ⚠ errors"
	}
	return sr.Name
}

// verdict states the goal of issue 2 per scenario.
func (r *Report) verdict() string {
	var parts []string
	for _, sr := range r.Results {
		n, c := summarize(sr.Nginx), summarize(sr.Cairn)
		rps, cpu := ratio(c.RPS, n.RPS), ratio(c.CPU, n.CPU)
		mark := "met"
		if !(rps >= 1) || !(cpu <= 1) {
			mark = "not met"
		}
		parts = append(parts, fmt.Sprintf("%s %s (req/s %s, CPU %s)", sr.Name, mark, fmtRatio(rps), fmtRatio(cpu)))
	}
	return "Goal (issue 2): req/s ratio ≥ 1.0 at CPU ratio ≤ 1.0. " + strings.Join(parts, "; ") + "."
}

// loadTable shows what else used the machine's cores during the runs.
func (r *Report) loadTable() string {
	var b strings.Builder
	b.WriteString("| scenario | load generator CPU, cores (nginx / cairn runs) | origin CPU µs/req (nginx / cairn runs) | failed requests (nginx / cairn) |\n")
	b.WriteString("|---|--:|--:|--:|\n")
	for _, sr := range r.Results {
		n, c := summarize(sr.Nginx), summarize(sr.Cairn)
		fmt.Fprintf(&b, "| %s | %s / %s | %s / %s | %d / %d |\n", sr.Name,
			fmtFloat(n.LoadCores, 2), fmtFloat(c.LoadCores, 2), fmtFloat(n.OriginCPU, 1), fmtFloat(c.OriginCPU, 1), n.Errors, c.Errors)
	}
	return b.String()
}

// runsTable lists every run, folded, so that a median can be checked.
func (r *Report) runsTable() string {
	var b strings.Builder
	b.WriteString("\n<details><summary>Every run</summary>\n\n")
	b.WriteString("| scenario | server | run | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS | generator cores | failed |\n")
	b.WriteString("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, sr := range r.Results {
		for _, s := range []struct {
			name string
			runs []run
		}{{"nginx", sr.Nginx}, {"cairn", sr.Cairn}} {
			for i, x := range s.runs {
				fmt.Fprintf(&b, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %d |\n", sr.Name, s.name, i+1,
					fmtRPS(x.Load.RPS), fmtFloat(ms(x.Load.P50), 2), fmtFloat(ms(x.Load.P99), 2),
					fmtFloat(x.CPUPerRequest(), 1), fmtMiB(float64(x.PeakRSS)), fmtFloat(x.LoadCores(), 2), x.Load.Errors())
			}
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

func fmtRPS(v float64) string {
	if math.IsNaN(v) {
		return "–"
	}
	if v >= 1000 {
		return fmt.Sprintf("%.1fk", v/1000)
	}
	return fmt.Sprintf("%.0f", v)
}

func fmtLatency(s summary) string {
	return fmtFloat(s.P50, 2) + " / " + fmtFloat(s.P99, 2)
}

func fmtFloat(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "–"
	}
	return fmt.Sprintf("%.*f", prec, v)
}

func fmtRatio(v float64) string { return fmtFloat(v, 2) }

func fmtMiB(bytes float64) string {
	if math.IsNaN(bytes) {
		return "–"
	}
	return fmt.Sprintf("%.1f MiB", bytes/(1<<20))
}

// Markers delimit the block of a README that the frontend table replaces.
const (
	MarkerStart = "<!-- bench:frontend:start -->"
	MarkerEnd   = "<!-- bench:frontend:end -->"
)

var errMarkers = errors.New("bench: README markers out of order")

// replaceMarked replaces what lies between the start and end markers of doc
// with content, keeping the markers. found is false, and doc unchanged,
// when the start marker is absent.
func replaceMarked(doc, start, end, content string) (out string, found bool, err error) {
	i := strings.Index(doc, start)
	if i < 0 {
		return doc, false, nil
	}
	j := strings.Index(doc[i+len(start):], end)
	if j < 0 {
		return doc, false, fmt.Errorf("%w: %q without %q", errMarkers, start, end)
	}
	j += i + len(start)
	return doc[:i+len(start)] + "\n" + strings.TrimSpace(content) + "\n" + doc[j:], true, nil
}

// stamp is the date line of a report.
func stamp(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// caveats is what every suite says after its method: whether peak RSS is
// per run, and how large the noise is.
func caveats(peakPerRun bool) string {
	s := ""
	if !peakPerRun {
		s = "Peak RSS could not be reset between runs, so it is the peak since the server started. "
	}
	return s + "Noise between runs is up to ±12 % (performance.md); differences under 20 % are noise unless they repeat.\n"
}

// provenance names the machine and versions and how to run it again.
func provenance(machine, versions, command string) string {
	return fmt.Sprintf("\nMachine: %s. Versions: %s.\n\nReproduce: `%s`\n", machine, versions, command)
}

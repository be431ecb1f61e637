package bench

import (
	"fmt"
	"strings"
)

// PeerReport is the outcome of the peer suites, rendered by Markdown.
type PeerReport struct {
	Machine    string // CPUs, CPU model, kernel
	Versions   string // the peers, wrk
	Command    string // the command that reproduces the run
	Method     string // load, runs, warm-up, origins
	PeakPerRun bool   // VmHWM was reset before each run (else: peak so far)
	Tiers      []PeerTierResult
}

// PeerTierResult holds one tier's scenarios.
type PeerTierResult struct {
	Name    string // cache, balancer, transform
	Cairn   string // the Cairn binary that will be compared
	Server  string // the peer's short name
	Setup   string // how the peer was configured
	Results []PeerScenarioResult
}

// PeerScenarioResult holds the runs of one scenario. Cairn's runs join
// the peer's once the tier exists.
type PeerScenarioResult struct {
	Name string
	Peer []run
}

// Peers' README markers: the block of the README that the peer tables
// replace.
const (
	PeersMarkerStart = "<!-- bench:peers:start -->"
	PeersMarkerEnd   = "<!-- bench:peers:end -->"
)

// Markdown renders a table per tier, the method, the machine line and,
// folded, every run.
func (r *PeerReport) Markdown() string {
	var b strings.Builder
	for _, t := range r.Tiers {
		fmt.Fprintf(&b, "**%s** (%s): %s\n\n", t.Name, t.Server, t.Setup)
		fmt.Fprintf(&b, "| scenario | %[1]s req/s | %[1]s p50 / p99 ms | %[1]s CPU µs/req | %[1]s peak RSS | origin CPU µs/req | generator cores | failed | %[2]s |\n", t.Server, t.Cairn)
		b.WriteString("|---|--:|--:|--:|--:|--:|--:|--:|---|\n")
		for _, sr := range t.Results {
			s := summarize(sr.Peer)
			name := sr.Name
			if s.Errors > 0 {
				name += " ⚠ errors"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %d | not built yet: no ratio |\n", name,
				fmtRPS(s.RPS), fmtLatency(s), fmtFloat(s.CPU, 1), fmtMiB(s.RSS), fmtFloat(s.OriginCPU, 1), fmtFloat(s.LoadCores, 2), s.Errors)
		}
		b.WriteString("\n")
	}
	b.WriteString(r.Method + " ")
	b.WriteString(caveats(r.PeakPerRun))
	b.WriteString(provenance(r.Machine, r.Versions, r.Command))
	b.WriteString(r.runsTable())
	return b.String()
}

// runsTable lists every run, folded, so that a median can be checked.
func (r *PeerReport) runsTable() string {
	var b strings.Builder
	b.WriteString("\n<details><summary>Every run</summary>\n\n")
	b.WriteString("| tier | scenario | server | run | req/s | p50 ms | p99 ms | CPU µs/req | peak RSS | origin CPU µs/req | generator cores | failed |\n")
	b.WriteString("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, t := range r.Tiers {
		for _, sr := range t.Results {
			for i, x := range sr.Peer {
				fmt.Fprintf(&b, "| %s | %s | %s | %d | %s | %s | %s | %s | %s | %s | %s | %d |\n", t.Name, sr.Name, t.Server, i+1,
					fmtRPS(x.Load.RPS), fmtFloat(ms(x.Load.P50), 2), fmtFloat(ms(x.Load.P99), 2), fmtFloat(x.CPUPerRequest(), 1),
					fmtMiB(float64(x.PeakRSS)), fmtFloat(x.OriginCPUPerRequest(), 1), fmtFloat(x.LoadCores(), 2), x.Load.Errors())
			}
		}
	}
	b.WriteString("\n</details>\n")
	return b.String()
}

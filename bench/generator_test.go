package bench

import (
	"strings"
	"testing"
	"time"
)

func TestGeneratorReportVerdict(t *testing.T) {
	wrk := []generatorRun{{RPS: 60000, P99: 2 * time.Millisecond, CPU: 6 * time.Second, Requests: 600000}}
	for _, tc := range []struct {
		rps  float64
		want string
	}{{66000, "**met**"}, {54000, "**not met**"}} {
		rep := &GeneratorReport{Wrk: wrk, Cairn: []generatorRun{{RPS: tc.rps, P99: time.Millisecond, CPU: 7 * time.Second, Requests: 660000}}}
		md := rep.Markdown()
		if !strings.Contains(md, tc.want) || !strings.Contains(md, "| cairn-bench load |") {
			t.Errorf("rps %g:\n%s", tc.rps, md)
		}
	}
}

func TestTrivialNginxConfigParses(t *testing.T) {
	conf := trivialNginx("/tmp/x", "127.0.0.1:1")
	for _, want := range []string{"daemon off;", "listen 127.0.0.1:1;", `return 200 "ok\n";`, "access_log off;"} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q", want)
		}
	}
}

package bench

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func readSample(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParseWrk(t *testing.T) {
	tests := []struct {
		file string
		want wrkResult
	}{
		{"wrk-ok.txt", wrkResult{Requests: 96235, Elapsed: 2010 * time.Millisecond, RPS: 47940.79,
			P50: 1040 * time.Microsecond, P99: 6830 * time.Microsecond}},
		{"wrk-errors.txt", wrkResult{Requests: 1234567, Elapsed: time.Minute, RPS: 20576.12,
			P50: 512 * time.Microsecond, P99: 1500 * time.Millisecond, Non2xx: 40, SocketErrors: 15}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			got, err := parseWrk(readSample(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v; want %+v", got, tt.want)
			}
		})
	}
}

func TestParseWrkRejects(t *testing.T) {
	ok := readSample(t, "wrk-ok.txt")
	tests := map[string]string{
		"empty":            "",
		"no --latency":     strings.Replace(ok, "     50%    1.04ms\n", "", 1),
		"bad unit":         strings.Replace(ok, "6.83ms", "6.83xs", 1),
		"bad count":        strings.Replace(ok, "96235 requests", "x requests", 1),
		"bad socket error": strings.Replace(ok, "Requests/sec", "  Socket errors: connect x, read 0, write 0, timeout 0\nRequests/sec", 1),
	}
	for name, out := range tests {
		t.Run(name, func(t *testing.T) {
			if _, err := parseWrk(out); !errors.Is(err, errWrkOutput) {
				t.Errorf("got %v; want errWrkOutput", err)
			}
		})
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := map[string]time.Duration{
		"0.00us": 0, "999.99us": 999990 * time.Nanosecond, "1.50ms": 1500 * time.Microsecond,
		"2.00s": 2 * time.Second, "1.50m": 90 * time.Second, "1.00h": time.Hour,
	}
	for in, want := range tests {
		if got, err := parseWrkDuration(in); err != nil || got != want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "ms", "1.0", "-1ms", "1e9s", "NaNs"} {
		if _, err := parseWrkDuration(in); err == nil {
			t.Errorf("parseWrkDuration(%q): no error", in)
		}
	}
}

// FuzzParseWrk checks that no input makes the parser panic, and that what
// it accepts is sane.
func FuzzParseWrk(f *testing.F) {
	f.Add(readSample(f, "wrk-ok.txt"))
	f.Add(readSample(f, "wrk-errors.txt"))
	f.Fuzz(func(t *testing.T, out string) {
		r, err := parseWrk(out)
		if err != nil {
			return
		}
		if r.P50 < 0 || r.P99 < 0 || r.Elapsed < 0 || r.Non2xx < 0 || r.SocketErrors < 0 {
			t.Errorf("negative figure in %+v", r)
		}
	})
}

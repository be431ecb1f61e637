package bench

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	tests := []struct {
		in   []float64
		want float64
	}{
		{[]float64{3}, 3},
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{5, 5, 1, 9, 5}, 5},
	}
	for _, tt := range tests {
		in := append([]float64(nil), tt.in...)
		if got := median(in); got != tt.want {
			t.Errorf("median(%v) = %v; want %v", tt.in, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Fatalf("median modified its input: %v", in)
			}
		}
	}
	if got := median(nil); !math.IsNaN(got) {
		t.Errorf("median(nil) = %v; want NaN", got)
	}
}

func TestRunFigures(t *testing.T) {
	r := run{Load: wrkResult{Requests: 200000, Elapsed: 10 * time.Second, CPU: 15 * time.Second}, ServerCPU: 4 * time.Second}
	if got := r.CPUPerRequest(); got != 20 {
		t.Errorf("CPUPerRequest = %v; want 20 µs", got)
	}
	if got := r.LoadCores(); got != 1.5 {
		t.Errorf("LoadCores = %v; want 1.5", got)
	}
	if got := (run{}).CPUPerRequest(); !math.IsNaN(got) {
		t.Errorf("CPUPerRequest without requests = %v; want NaN", got)
	}
	if got := ratio(1, 0); !math.IsNaN(got) {
		t.Errorf("ratio(1, 0) = %v; want NaN", got)
	}
}

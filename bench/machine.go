package bench

import (
	"bufio"
	"context"
	"debug/buildinfo"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// ensureTools installs nginx and wrk with apt-get when either is missing
// from PATH, saying so on progress. Installing is bounded to five minutes.
func ensureTools(ctx context.Context, progress io.Writer) error {
	var missing []string
	for _, t := range []string{"nginx", "wrk"} {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) == 0 {
		return nil
	}
	argv := []string{"apt-get", "install", "-y", "nginx-light", "wrk"}
	fmt.Fprintf(progress, "%s missing from PATH; running: %s\n", strings.Join(missing, " and "), strings.Join(argv, " "))
	if err := runApt(ctx, argv, progress); err != nil {
		return err
	}
	for _, t := range missing {
		if _, err := exec.LookPath(t); err != nil {
			return fmt.Errorf("bench: %s still not on PATH after apt-get: %w", t, err)
		}
	}
	return nil
}

// machine names the host: CPUs usable by this process, CPU model, kernel.
func machine() string {
	model := "unknown CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		model = cpuModel(f)
		f.Close()
	}
	kernel := "unknown"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	return fmt.Sprintf("nproc %d, %s, Linux %s", runtime.NumCPU(), model, kernel)
}

// cpuModel returns the first "model name" of /proc/cpuinfo.
func cpuModel(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

// versions names the tools and builds compared: nginx -v, wrk -v (both
// print on stderr, and wrk exits 1), and the Go release the Cairn binary
// cairnBin (named cairnName) was built with.
func versions(ctx context.Context, cairnName, cairnBin string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	nginx := firstLine(ctx, "nginx", "-v")
	nginx = strings.TrimPrefix(nginx, "nginx version: ")
	wrk, _, _ := strings.Cut(firstLine(ctx, "wrk", "-v"), " [")
	gov := "unknown Go"
	if bi, err := buildinfo.ReadFile(cairnBin); err == nil {
		gov = bi.GoVersion
	}
	return fmt.Sprintf("%s, %s, %s built with %s", nginx, wrk, cairnName, gov)
}

// firstLine runs a command and returns the first line of its combined
// output, whatever its exit status.
func firstLine(ctx context.Context, name string, args ...string) string {
	out, _ := exec.CommandContext(ctx, name, args...).CombinedOutput()
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if line == "" {
		return name + " (version unknown)"
	}
	return strings.TrimSpace(line)
}

package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat. USER_HZ is
// 100 on every Linux architecture's user ABI; reading sysconf(_SC_CLK_TCK)
// would need cgo.
const clockTick = 10 * time.Millisecond

// procStat is what the suite needs from /proc/PID/stat.
type procStat struct {
	PID, PPID      int
	UTime, STime   uint64 // clock ticks
	CUTime, CSTime uint64 // of its children that exited and were waited for
}

// CPU is the process's user plus system time, with that of its children
// that ended: a worker that dies during a run (nginx respawning one) has
// its time moved to its parent's, where it is still counted; without it
// the worker's time vanished, and a run's CPU could come out negative.
func (s procStat) CPU() time.Duration {
	return time.Duration(s.UTime+s.STime+s.CUTime+s.CSTime) * clockTick
}

var errStatFormat = errors.New("bench: malformed /proc stat line")

// parseStat parses one /proc/PID/stat line. The command name (field 2) is
// in parentheses and may itself contain spaces and parentheses, so the
// fields are counted from the last ')' (proc(5)).
func parseStat(b []byte) (procStat, error) {
	open := bytes.IndexByte(b, '(')
	end := bytes.LastIndexByte(b, ')')
	if open < 1 || end < open {
		return procStat{}, errStatFormat
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(b[:open])))
	if err != nil {
		return procStat{}, fmt.Errorf("%w: pid: %v", errStatFormat, err)
	}
	// After ')': field 3 (state) is index 0, so field N is index N-3.
	f := bytes.Fields(b[end+1:])
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("%w: %d fields after the name", errStatFormat, len(f))
	}
	s := procStat{PID: pid}
	if s.PPID, err = strconv.Atoi(string(f[1])); err != nil {
		return procStat{}, fmt.Errorf("%w: ppid: %v", errStatFormat, err)
	}
	if s.UTime, err = strconv.ParseUint(string(f[11]), 10, 64); err != nil {
		return procStat{}, fmt.Errorf("%w: utime: %v", errStatFormat, err)
	}
	if s.STime, err = strconv.ParseUint(string(f[12]), 10, 64); err != nil {
		return procStat{}, fmt.Errorf("%w: stime: %v", errStatFormat, err)
	}
	// cutime and cstime are signed in the kernel's format (long).
	cu, err1 := strconv.ParseInt(string(f[13]), 10, 64)
	cs, err2 := strconv.ParseInt(string(f[14]), 10, 64)
	if err1 != nil || err2 != nil || cu < 0 || cs < 0 {
		return procStat{}, fmt.Errorf("%w: cutime/cstime %q %q", errStatFormat, f[13], f[14])
	}
	s.CUTime, s.CSTime = uint64(cu), uint64(cs)
	return s, nil
}

// parseVmHWM returns the VmHWM line of /proc/PID/status (peak resident set
// size) in bytes.
func parseVmHWM(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		v, ok := bytes.CutPrefix(line, []byte("VmHWM:"))
		if !ok {
			continue
		}
		kb, ok := bytes.CutSuffix(bytes.TrimSpace(v), []byte("kB"))
		if !ok {
			return 0, fmt.Errorf("bench: VmHWM %q: no kB unit", bytes.TrimSpace(v))
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(kb)), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("bench: VmHWM: %w", err)
		}
		return n << 10, nil
	}
	return 0, errors.New("bench: no VmHWM in status")
}

// procFS reads process figures below a /proc mount; the root is a field so
// that tests can point it at a fake tree.
type procFS struct{ root string }

// tree returns root and all its descendants (nginx's master and workers).
// Processes that exit while /proc is read are skipped.
func (p procFS) tree(root int) ([]procStat, error) {
	ents, err := os.ReadDir(p.root)
	if err != nil {
		return nil, fmt.Errorf("bench: reading %s: %w", p.root, err)
	}
	children := map[int][]procStat{}
	var self *procStat
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(p.root, e.Name(), "stat"))
		if err != nil {
			continue // gone meanwhile
		}
		s, err := parseStat(b)
		if err != nil {
			return nil, fmt.Errorf("bench: pid %s: %w", e.Name(), err)
		}
		if s.PID == root {
			self = &s
		}
		children[s.PPID] = append(children[s.PPID], s)
	}
	if self == nil {
		return nil, fmt.Errorf("bench: process %d not found", root)
	}
	out := []procStat{*self}
	for i := 0; i < len(out); i++ {
		out = append(out, children[out[i].PID]...)
	}
	return out, nil
}

// treeCPU is the user plus system time of root and its descendants.
func (p procFS) treeCPU(root int) (time.Duration, error) {
	procs, err := p.tree(root)
	if err != nil {
		return 0, err
	}
	var d time.Duration
	for _, s := range procs {
		d += s.CPU()
	}
	return d, nil
}

// treePeakRSS sums VmHWM over root and its descendants: for nginx, master
// plus workers, as the memory the server as a whole held at its peak.
func (p procFS) treePeakRSS(root int) (int64, error) {
	procs, err := p.tree(root)
	if err != nil {
		return 0, err
	}
	var sum int64
	for _, s := range procs {
		b, err := os.ReadFile(filepath.Join(p.root, strconv.Itoa(s.PID), "status"))
		if err != nil {
			return 0, fmt.Errorf("bench: peak RSS of %d: %w", s.PID, err)
		}
		n, err := parseVmHWM(b)
		if err != nil {
			return 0, fmt.Errorf("bench: peak RSS of %d: %w", s.PID, err)
		}
		sum += n
	}
	return sum, nil
}

// resetPeakRSS sets VmHWM back to the current RSS in root and its
// descendants (writing "5" to clear_refs, Linux ≥ 4.0), so that each run's
// peak is its own. Where that is refused, peaks accumulate over the runs,
// which the report then states.
func (p procFS) resetPeakRSS(root int) error {
	procs, err := p.tree(root)
	if err != nil {
		return err
	}
	for _, s := range procs {
		path := filepath.Join(p.root, strconv.Itoa(s.PID), "clear_refs")
		if err := os.WriteFile(path, []byte("5"), 0); err != nil {
			return fmt.Errorf("bench: resetting peak RSS: %w", err)
		}
	}
	return nil
}

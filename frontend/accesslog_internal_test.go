package frontend

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// TestAccessLogAfterFailedWrite: a write the disk refuses (here /dev/full)
// loses the lines buffered then, says so once, and does not stop the log:
// after SIGUSR1's reopen (the disk freed, or logrotate's new file) lines
// are written again.
func TestAccessLogAfterFailedWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	if err := os.Symlink("/dev/full", path); err != nil {
		t.Fatal(err)
	}
	al, err := openAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	defer al.close()
	line := func(s string) { al.add([]byte(s)) }
	line("lost\n")
	if err := al.flush(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("flush to a full disk: %v; want ENOSPC", err)
	}
	if err := al.flush(); err != nil {
		t.Errorf("a second flush with nothing new: %v; want nil", err)
	}
	if err := os.Remove(path); err != nil { // the disk "freed": a new file at the path
		t.Fatal(err)
	}
	line("also lost\n") // still for the full disk's file
	if err := al.reopen(); !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("reopen: %v; want the failed flush's ENOSPC", err)
	}
	line("kept\n")
	if err := al.flush(); err != nil {
		t.Fatalf("flush after reopen: %v", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "kept\n" {
		t.Errorf("the log holds %q; want the line after reopen", b)
	}
}

// TestAccessLogConcurrentLines: lines logged at once from many goroutines,
// through many full buffers, each reach the file once, whole, and in the
// order each goroutine logged them.
func TestAccessLogConcurrentLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "access.log")
	al, err := openAccessLog(path)
	if err != nil {
		t.Fatal(err)
	}
	const writers, lines = 8, 4000
	pad := strings.Repeat("x", 80)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				al.add(fmt.Appendf(nil, "%d %d %s\n", w, i, pad))
				if i%1000 == 999 && w == 0 {
					if err := al.flush(); err != nil {
						t.Error(err)
					}
				}
			}
		})
	}
	wg.Wait()
	if err := al.close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	next := make([]int, writers)
	got := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	for _, l := range got {
		var w, i int
		var p string
		if n, err := fmt.Sscanf(string(l), "%d %d %s", &w, &i, &p); n != 3 || err != nil || p != pad || w < 0 || w >= writers {
			t.Fatalf("a torn line: %.60q", l)
		}
		if i != next[w] {
			t.Fatalf("writer %d: line %d after %d", w, i, next[w]-1)
		}
		next[w]++
	}
	if len(got) != writers*lines {
		t.Errorf("%d lines; want %d", len(got), writers*lines)
	}
}

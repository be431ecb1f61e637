package frontend

import (
	"errors"
	"os"
	"path/filepath"
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
	line := func(s string) {
		al.mu.Lock()
		al.write([]byte(s))
		al.mu.Unlock()
	}
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

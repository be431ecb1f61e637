package bench

import (
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// TestStopReachesOrphanedWorkers: a child that exited on its own (a
// crashed master) leaves its workers in its process group; stop kills
// them rather than leaving them to hold ports and the work folder.
func TestStopReachesOrphanedWorkers(t *testing.T) {
	c, err := startChild("sh", []string{"/bin/sh", "-c", "sleep 30 & exit 0"}, filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the leader did not exit")
	}
	pgid := c.PID()
	if syscall.Kill(-pgid, 0) != nil {
		t.Fatal("no worker left in the group")
	}
	c.stop()
	for deadline := time.Now().Add(5 * time.Second); syscall.Kill(-pgid, 0) == nil; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			syscall.Kill(-pgid, syscall.SIGKILL)
			t.Fatal("the orphaned worker was left running")
		}
	}
}

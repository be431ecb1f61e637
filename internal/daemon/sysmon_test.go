package daemon

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestKeepSysmonAwake runs this test binary as a child that calls
// keepSysmonAwake and prints the GODEBUG it then runs with.
func TestKeepSysmonAwake(t *testing.T) {
	if os.Getenv("CAIRN_SYSMON_CHILD") == "1" {
		keepSysmonAwake()
		fmt.Printf("GODEBUG=%s pid=%d\n", os.Getenv("GODEBUG"), os.Getpid())
		return
	}
	for _, tc := range []struct{ in, want string }{
		{"", sysmonSetting},
		{"madvdontneed=1", "madvdontneed=1," + sysmonSetting},
		{"schedtrace=0", "schedtrace=0"}, // the operator's choice stands
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestKeepSysmonAwake$")
		cmd.Env = append(os.Environ(), "CAIRN_SYSMON_CHILD=1", "GODEBUG="+tc.in)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("GODEBUG=%q: %v", tc.in, err)
		}
		line := strings.SplitN(string(out), "\n", 2)[0]
		want := fmt.Sprintf("GODEBUG=%s pid=%d", tc.want, cmd.Process.Pid) // same process, re-executed
		if line != want {
			t.Errorf("GODEBUG=%q: child printed %q; want %q", tc.in, line, want)
		}
	}
}

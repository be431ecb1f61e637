package daemon

import (
	"os"
	"strings"
	"syscall"
)

// sysmonSetting keeps the Go runtime's sysmon thread out of deep sleep.
//
// sysmon is the runtime's watchdog thread. When every P is idle it sleeps
// until woken, and the next system call that goes through entersyscall
// (a file write, an fsync: anything but syscall.RawSyscall) wakes it and
// sets it back to polling every 20 µs for at least a millisecond. A server
// whose clients send one request at a time goes idle between every request
// and its reply, so each request restarts that polling: with one Python
// ZEO client committing, sysmon polled all through each commit's two
// fdatasyncs, and took about a fifth of cairn-objectstore's CPU per commit
// (and 12 of its 20 context switches). With schedtrace set, sysmon never
// deep-sleeps: its polling backs off to every 10 ms and stays there, which
// costs nothing measurable. schedtrace's real purpose is a scheduler
// summary line on standard error every so many milliseconds; at the
// largest value (about 24.8 days) that line comes once per 24.8 days of
// uptime, and a fatal error's report includes the scheduler's state.
//
// No API reaches this runtime setting once the process runs, so the
// binary re-executes itself with it in GODEBUG (same PID, same arguments).
const sysmonSetting = "schedtrace=2147483647"

// reexecMarker is set in the environment of the re-executed process.
const reexecMarker = "CAIRN_SYSMON_REEXEC"

// keepSysmonAwake re-executes the running binary with sysmonSetting added
// to GODEBUG, unless GODEBUG already sets schedtrace (an operator's own
// value, or the re-executed process). If the re-execution fails, the
// process goes on as it is: slower, never broken.
func keepSysmonAwake() {
	if os.Getenv(reexecMarker) != "" {
		return // re-executed once already: never loop, whatever GODEBUG says
	}
	godebug := os.Getenv("GODEBUG")
	for _, kv := range strings.Split(godebug, ",") {
		if strings.HasPrefix(strings.TrimSpace(kv), "schedtrace=") {
			return
		}
	}
	if godebug != "" {
		godebug += ","
	}
	// Replace GODEBUG rather than append a second one: the runtime and
	// os.Getenv would both read the first, and the binary would re-execute
	// itself forever.
	env := []string{"GODEBUG=" + godebug + sysmonSetting, reexecMarker + "=1"}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GODEBUG=") {
			env = append(env, kv)
		}
	}
	_ = syscall.Exec("/proc/self/exe", os.Args, env)
}

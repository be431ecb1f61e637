// Package bench measures Cairn's tiers side by side with the servers they
// replace, on the same machine and in the same run (performance.md).
//
// The frontend suite (issue 2) starts three processes on free 127.0.0.1
// ports: an origin standing in for a Zope instance (a `cairn-bench origin`
// child, so that its CPU is never counted with the servers), Debian's nginx
// and cairn-frontend, both configured the same way: a keep-alive pool to the
// origin with a VirtualHostMonster rewrite, a static folder, and an access
// log to a file. For each scenario it alternates wrk runs against nginx and
// cairn (A B A B …), each after a short warm-up, and reads the server's CPU
// time and peak RSS from /proc around every run. Medians per scenario and
// server are reported as a Markdown table of ratios cairn/nginx.
//
// Why CPU per request: wrk, the origin and the server share the machine's
// cores, so req/s mixes all three; the server's own utime+stime divided by
// the requests it answered is the steadiest figure. wrk's own CPU is
// reported too, so that a saturated load generator is visible.
//
// Concurrency: Compare runs one step at a time; the only goroutines are the
// ones waiting for each child process, and every child is stopped (SIGTERM
// to its process group, then SIGKILL) before Compare returns, also when ctx
// is cancelled.
//
// Caveats: Linux only (/proc); CPU times have the kernel's clock-tick
// resolution (10 ms), which is why runs should last seconds; ports are
// picked by binding :0 and closing, so another process could take one in
// between (the start then fails and says so).
package bench

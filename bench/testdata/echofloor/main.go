// Command echofloor measures the floor under the object store's CPU per
// load: the CPU a trivial Go TCP server spends per request when clients
// send one small request at a time and idle between requests (as Python
// ZEO clients do), served by goroutines on Go's netpoller and by an epoll
// loop on a locked thread. It is an experiment, not part of Cairn:
//
//	go run ./bench/testdata/echofloor -rounds 3
//
// Server and clients run in separate processes (the command re-executes
// itself as the server), and only the server's CPU is counted.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

const reqSize, replySize = 40, 300

func main() {
	serve := flag.String("serve", "", "internal: run the server: go or epoll")
	addr := flag.String("addr", "127.0.0.1:19990", "address")
	clients := flag.String("clients", "1,8", "client counts")
	n := flag.Int("n", 2000, "requests per client")
	think := flag.Duration("think", 300*time.Microsecond, "client's busy time between requests")
	rounds := flag.Int("rounds", 3, "alternating rounds (medians are reported)")
	flag.Parse()
	if *serve != "" {
		var total int
		fmt.Sscan(flag.Arg(0), &total)
		serveMode(*serve, *addr, total)
		return
	}
	results := map[string][]float64{}
	for r := range *rounds {
		for _, c := range strings.Split(*clients, ",") {
			var conns int
			fmt.Sscan(c, &conns)
			for _, mode := range []string{"go", "epoll"} {
				us, err := run(mode, *addr, conns, *n, *think)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(1)
				}
				key := fmt.Sprintf("%-5s %d clients", mode, conns)
				results[key] = append(results[key], us)
				fmt.Printf("round %d: %s: %.1f µs CPU per request\n", r+1, key, us)
			}
		}
	}
	keys := make([]string, 0, len(results))
	for k := range results {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		v := results[k]
		slices.Sort(v)
		fmt.Printf("median %s: %.1f µs CPU per request\n", k, v[len(v)/2])
	}
}

// run starts a server process, drives it with conns clients and returns
// the server's CPU per request.
func run(mode, addr string, conns, n int, think time.Duration) (float64, error) {
	self, _ := os.Executable()
	srv := exec.Command(self, "-serve", mode, "-addr", addr, fmt.Sprint(conns*n))
	out := &strings.Builder{}
	srv.Stdout, srv.Stderr = out, os.Stderr
	if err := srv.Start(); err != nil {
		return 0, err
	}
	defer srv.Process.Kill()
	var dialed []net.Conn
	for range 100 {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			dialed = append(dialed, c)
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(dialed) == 0 {
		return 0, fmt.Errorf("%s server did not listen", mode)
	}
	for len(dialed) < conns {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return 0, err
		}
		dialed = append(dialed, c)
	}
	errs := make(chan error, conns)
	for _, c := range dialed {
		go func() {
			defer c.Close()
			req, reply := make([]byte, reqSize), make([]byte, replySize)
			for range n {
				if _, err := c.Write(req); err != nil {
					errs <- err
					return
				}
				if _, err := io.ReadFull(c, reply); err != nil {
					errs <- err
					return
				}
				for end := time.Now().Add(think); time.Now().Before(end); {
				}
			}
			errs <- nil
		}()
	}
	for range conns {
		if err := <-errs; err != nil {
			return 0, err
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			return 0, err
		}
	case <-time.After(10 * time.Second):
		return 0, fmt.Errorf("%s server did not finish", mode)
	}
	var us float64
	_, err := fmt.Sscan(out.String(), &us)
	return us, err
}

func cpu() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// serveMode answers total requests, then prints its CPU per request
// (counted from the first request on).
func serveMode(mode, addr string, total int) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	var start time.Duration
	count := 0
	served := func() bool {
		count++
		if count == 1 {
			start = cpu()
		}
		return count == total
	}
	switch mode {
	case "go":
		ch := make(chan struct{}, 1024)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go func() {
					req, reply := make([]byte, reqSize), make([]byte, replySize)
					for {
						if _, err := io.ReadFull(c, req); err != nil {
							return
						}
						c.Write(reply)
						ch <- struct{}{}
					}
				}()
			}
		}()
		for range ch {
			if served() {
				break
			}
		}
	case "epoll":
		runtime.LockOSThread()
		ep, _ := syscall.EpollCreate1(0)
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				f, _ := c.(*net.TCPConn).File() // a blocking duplicate
				fd := int(f.Fd())
				syscall.SetNonblock(fd, true)
				syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
				runtime.KeepAlive(f)
				defer f.Close()
			}
		}()
		evs := make([]syscall.EpollEvent, 64)
		req, reply := make([]byte, reqSize), make([]byte, replySize)
		for count < total {
			// Ready events without blocking first; block through the
			// runtime (entersyscall) only when there are none.
			nev, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), 0, 0, 0)
			if e != 0 || nev == 0 {
				if nev, _, e = syscall.Syscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&evs[0])), uintptr(len(evs)), ^uintptr(0), 0, 0); e != 0 {
					continue
				}
			}
			for _, ev := range evs[:nev] {
				fd := uintptr(ev.Fd)
				r, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&req[0])), reqSize)
				if e != 0 {
					continue
				}
				if r == 0 {
					syscall.EpollCtl(ep, syscall.EPOLL_CTL_DEL, int(fd), nil)
					continue
				}
				syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&reply[0])), replySize)
				if served() {
					break
				}
			}
		}
	}
	fmt.Printf("%.2f\n", float64(cpu()-start)/float64(time.Microsecond)/float64(total-1))
}

package frontend_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// spoolUpstream serves, on keep-alive connections, /big (size bytes of
// pattern with a Content-Length), /chunked (the same, chunked), /slow (the
// same, 64 KiB every 10 ms) and anything else as "ok". done gets the
// outcome of each large body's writing: nil once it is all written.
type spoolUpstream struct {
	addr  string
	conns atomic.Int32
	done  chan error
}

func startSpoolUpstream(t *testing.T, size int) *spoolUpstream {
	body := pattern(size)
	u := &spoolUpstream{done: make(chan error, 8)}
	u.addr = keepAlive(t, func() { u.conns.Add(1) }, func(c net.Conn, req *http.Request) bool {
		var err error
		switch req.URL.Path {
		case "/big":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
			_, err = c.Write(body)
			u.done <- err
		case "/chunked":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
			for i := 0; i < size && err == nil; i += 1 << 20 {
				_, err = fmt.Fprintf(c, "%x\r\n%s\r\n", len(body[i:min(i+1<<20, size)]), body[i:min(i+1<<20, size)])
			}
			if err == nil {
				_, err = io.WriteString(c, "0\r\n\r\n")
			}
			u.done <- err
		case "/slow":
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n", size)
			for i := 0; i < size && err == nil; i += 64 << 10 {
				_, err = c.Write(body[i:min(i+64<<10, size)])
				time.Sleep(10 * time.Millisecond)
			}
			u.done <- err
		default:
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
		return err == nil
	})
	return u
}

// stalled is a client that sent GET path and read only the first bytes of
// the answer.
type stalled struct {
	c     net.Conn
	br    *bufio.Reader
	first []byte
}

// stalledGet sends GET path on a new connection with a small receive
// buffer and reads only the first n bytes of the answer.
func stalledGet(t *testing.T, addr, path string, n int) *stalled {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.(*net.TCPConn).SetReadBuffer(64 << 10); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path)
	br := bufio.NewReaderSize(c, 64<<10)
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	first := make([]byte, n)
	if _, err := io.ReadFull(br, first); err != nil {
		t.Fatal(err)
	}
	return &stalled{c: c, br: br, first: first}
}

// rest reads the rest of the answer and returns its body, and the error
// that cut it short.
func (s *stalled) rest(t *testing.T) ([]byte, error) {
	t.Helper()
	s.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(io.MultiReader(bytes.NewReader(s.first), s.br)), nil)
	if err != nil {
		t.Fatal(err)
	}
	return io.ReadAll(resp.Body)
}

// waitDone waits for the upstream's outcome of writing a large body.
func waitDone(u *spoolUpstream, d time.Duration) (error, bool) {
	select {
	case err := <-u.done:
		return err, true
	case <-time.After(d):
		return nil, false
	}
}

// TestSpooledResponseFreesUpstream: a large response (known length or
// chunked) to a client that stalls is read from the upstream whole into a
// temporary file: the upstream finishes sending while the client has read
// almost nothing, its connection carries the next request meanwhile, and
// the stalled client then gets every byte. The file is unlinked.
func TestSpooledResponseFreesUpstream(t *testing.T) {
	const size = 24 << 20 // far more than the sockets on the way buffer
	up := startSpoolUpstream(t, size)
	cfg := proxyConfig(up.addr)
	cfg.BodyTempDir = t.TempDir()
	cfg.EventLoops = 1 // one pool of upstream connections (each loop has its own)
	fe := startFrontend(t, cfg)
	for _, path := range []string{"/big", "/chunked"} {
		cl := stalledGet(t, fe.addr[0], path, 1<<10)
		if err, ok := waitDone(up, 5*time.Second); !ok || err != nil {
			t.Fatalf("%s: the upstream could not send its body while the client stalled (done %v, %v)", path, ok, err)
		}
		time.Sleep(100 * time.Millisecond) // the frontend reads what the sockets still hold
		conns := up.conns.Load()
		if resp, body := get(t, fe.url("/next")); resp.StatusCode != 200 || body != "ok" || up.conns.Load() != conns {
			t.Errorf("%s: the next request: %d %q on %d new upstream connections; want 200 on the one already open",
				path, resp.StatusCode, body, up.conns.Load()-conns)
		}
		if body, err := cl.rest(t); err != nil || !bytes.Equal(body, pattern(size)) {
			t.Errorf("%s: the stalled client then got %d bytes (%v); want the %d sent", path, len(body), err, size)
		}
		cl.c.Close()
		if left, _ := os.ReadDir(cfg.BodyTempDir); len(left) > 0 {
			t.Errorf("%s: temporary files left in the folder: %v", path, left)
		}
	}
	if n := counterValue(t, fe, "cairn_frontend_spooled_responses_total", nil); n != 2 {
		t.Errorf("cairn_frontend_spooled_responses_total = %v; want 2", n)
	}
	if n := gaugeValue(t, fe, "cairn_frontend_spooled_bytes"); n != 0 {
		t.Errorf("cairn_frontend_spooled_bytes = %v once the responses are over; want 0", n)
	}
}

// gaugeValue reads an unlabelled gauge from the frontend's registry.
func gaugeValue(t *testing.T, fe *running, name string) float64 {
	t.Helper()
	mfs, err := fe.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no gauge %s", name)
	return 0
}

// TestSpoolLimit: with max_temp_file_size reached (1M), max_temp_total
// reached (1M), or spooling off (max_temp_file_size 0), the rest of a
// large response goes only as the client takes it, as nginx does: the
// upstream cannot finish while the client stalls, and the client still
// gets every byte.
func TestSpoolLimit(t *testing.T) {
	const size = 24 << 20
	for _, limits := range [][2]sitefile.Size{{1 << 20, 2 << 30}, {1 << 30, 1 << 20}, {0, 2 << 30}} {
		limit := limits // for the messages
		up := startSpoolUpstream(t, size)
		cfg := proxyConfig(up.addr)
		cfg.BodyTempDir = t.TempDir()
		cfg.MaxTempFileSize, cfg.MaxTempTotal = limits[0], limits[1]
		fe := startFrontend(t, cfg)
		cl := stalledGet(t, fe.addr[0], "/big", 1<<10)
		if _, ok := waitDone(up, 500*time.Millisecond); ok {
			t.Errorf("max_temp_file_size, max_temp_total %v: the upstream sent it all while the client stalled", limit)
		}
		if body, err := cl.rest(t); err != nil || !bytes.Equal(body, pattern(size)) {
			t.Errorf("max_temp_file_size, max_temp_total %v: the client got %d bytes (%v); want the %d sent", limit, len(body), err, size)
		}
		if err, ok := waitDone(up, 5*time.Second); !ok || err != nil {
			t.Errorf("max_temp_file_size, max_temp_total %v: the upstream's send: %v, %v", limit, ok, err)
		}
	}
}

// openFiles counts the frontend's open descriptors (it runs in this
// process) whose target holds name.
func openFiles(t *testing.T, name string) int {
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	n := 0
	for _, fd := range fds {
		if target, _ := os.Readlink("/proc/self/fd/" + fd.Name()); strings.Contains(target, name) {
			n++
		}
	}
	return n
}

// TestSpoolClientLeaves: when the client leaves while the upstream is still
// sending, the upstream connection is closed (nobody will read the rest),
// the temporary file goes, and the frontend serves on.
func TestSpoolClientLeaves(t *testing.T) {
	const size = 24 << 20 // about 4 s at the upstream's pace
	up := startSpoolUpstream(t, size)
	cfg := proxyConfig(up.addr)
	cfg.BodyTempDir = t.TempDir()
	fe := startFrontend(t, cfg)
	cl := stalledGet(t, fe.addr[0], "/slow", 1<<10)
	time.Sleep(200 * time.Millisecond) // the frontend is spooling
	if n := openFiles(t, "cairn-response-"); n != 1 {
		t.Errorf("open temporary response files while spooling: %d; want 1", n)
	}
	cl.c.Close()
	start := time.Now()
	if err, ok := waitDone(up, 2*time.Second); !ok || err == nil {
		t.Errorf("the upstream's send after the client left: done %v, %v; want cut off", ok, err)
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("the upstream was cut off %v after the client left", time.Since(start))
	}
	for deadline := time.Now().Add(2 * time.Second); openFiles(t, "cairn-response-") > 0 && time.Now().Before(deadline); {
		time.Sleep(20 * time.Millisecond)
	}
	if n := openFiles(t, "cairn-response-"); n != 0 {
		t.Errorf("temporary response files still open: %d", n)
	}
	if resp, body := get(t, fe.url("/next")); resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after the client left: %d %q", resp.StatusCode, body)
	}
}

// TestSpoolTempDirGone: a temporary file that cannot be made (the folder
// removed under the running frontend) leaves the response streamed as the
// client takes it, whole.
func TestSpoolTempDirGone(t *testing.T) {
	const size = 4 << 20
	up := startSpoolUpstream(t, size)
	fe := startWithTempDirGone(t, proxyConfig(up.addr))
	if resp, body := get(t, fe.url("/big")); resp.StatusCode != 200 || body != string(pattern(size)) {
		t.Errorf("without a temporary folder: %d, %d bytes; want 200 and the %d sent", resp.StatusCode, len(body), size)
	}
	if n := counterValue(t, fe, "cairn_frontend_spooled_responses_total", nil); n != 0 {
		t.Errorf("cairn_frontend_spooled_responses_total = %v; want 0", n)
	}
}

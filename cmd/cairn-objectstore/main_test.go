package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/proctest"
	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/cairnstack/cairn/objectstore"
	"github.com/cairnstack/cairn/objectstore/testcert"
	"github.com/cairnstack/cairn/objectstore/zeo"
)

var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "cairn-bin")
	if err != nil {
		panic(err)
	}
	if err := proctest.Build(dir, "cairn-objectstore"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "cairn-objectstore")
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func TestVersion(t *testing.T) {
	var out strings.Builder
	if err := run(context.Background(), []string{"-version"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "cairn-objectstore ") {
		t.Errorf("-version printed %q", out.String())
	}
}

func TestBadConfigIsRejectedWithLineAndKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "site.toml")
	if err := os.WriteFile(path, []byte("[objectstore]\nlisten = \"nowhere\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", path, "-admin", ""}, io.Discard, io.Discard)
	if want := path + ":2: objectstore.listen: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("error %v; want it to start with %q", err, want)
	}
}

// startServer runs the real binary on free ports with a fresh data
// directory and returns its ZEO address.
func startServer(t *testing.T, extra ...string) (*proctest.Proc, string) {
	t.Helper()
	dir := t.TempDir()
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	args := append([]string{"-listen", addr, "-admin", admin, "-data", filepath.Join(dir, "data.db"),
		"-blob-dir", filepath.Join(dir, "blobs")}, extra...)
	p := proctest.Start(t, bin, args...)
	p.WaitHealthy(admin)
	return p, addr
}

// TestOutOfDescriptors: clients opening more connections than the server
// may hold descriptors make accept fail (EMFILE) until some close; the
// server waits that out and serves again, where it used to stop (any
// client could take it down so).
func TestOutOfDescriptors(t *testing.T) {
	dir := t.TempDir()
	addr, admin := proctest.FreePort(t), proctest.FreePort(t)
	p := proctest.Start(t, "/bin/sh", "-c", "ulimit -n 64 && exec "+bin+" -listen "+addr+" -admin "+admin+
		" -data "+filepath.Join(dir, "data.db"))
	p.WaitHealthy(admin)
	conns := proctest.Flood(t, addr, 100)
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(p.Output(), "accept failed; trying again"); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no accept failure logged:\n%s", p.Output())
		}
	}
	for _, c := range conns {
		c.Close()
	}
	// A new client gets the ZEO handshake again.
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.SetReadDeadline(time.Now().Add(time.Second))
			hello, _ := zeo.NewReader(c, 0).ReadFrame()
			c.Close()
			if len(hello) > 0 {
				break
			}
		}
		if time.Now().After(deadline) || p.Exited() {
			t.Fatalf("the server does not serve again:\n%s", p.Output())
		}
	}
}

// python returns the project venv's interpreter.
func python(t *testing.T) string { return proctest.Venv(t, "python") }

func scriptDir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "objectstore", "testdata", "python")
}

func runPython(t *testing.T, timeout time.Duration, env []string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, python(t), args...)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestPythonSmoke: a stock ZODB/ZEO client commits, reopens, reads back
// and resolves a BTrees.Length conflict.
func TestPythonSmoke(t *testing.T) {
	_, addr := startServer(t)
	out := runPython(t, 2*time.Minute, []string{"ZEO_ADDR=" + addr}, filepath.Join(scriptDir(), "smoke.py"))
	if !strings.Contains(out, "smoke: 4 passed, 0 failed") {
		t.Errorf("smoke output:\n%s", out)
	}
}

// TestPythonConformance runs ZODB's storage conformance mixins, ZEO's
// generic client tests (MappingStorageTests, FileStorageTests) and the
// copyTransactionsFrom tests (FileStorageRecoveryTests) through
// ClientStorage against the real binary (conformance.py starts one
// server per test). Failures listed in
// objectstore/testdata/python/expected_failures.txt are allowed.
func TestPythonConformance(t *testing.T) {
	conformance(t, "mixins", "generic", "full", "recovery")
}

// TestPythonBlobs runs ZEO's blob test classes: streamed blobs
// (BlobAdaptedFileStorageTests) and a shared blob directory
// (BlobWritableCacheTests), each with the full generic suite.
func TestPythonBlobs(t *testing.T) {
	conformance(t, "blobs")
}

// TestPythonMoreGeneric runs the rest of ZEO's generic client test classes
// that apply to a server other than ZEO's own:
// ClientConflictResolutionTests, FileStorageLoadDelayedTests,
// FileStorageClientHexTests and DemoStorageTests.
func TestPythonMoreGeneric(t *testing.T) {
	conformance(t, "more")
}

// TestPythonConnection runs ZEO's connection tests: servers stopped and
// restarted under connected clients, cache verification on reconnect,
// read-only servers and read-only fallback, transaction timeouts.
func TestPythonConnection(t *testing.T) {
	conformance(t, "connection")
}

// TestPythonDoctests runs the doctests in ZEO's testZEO module (server
// status, ruok, prefetch, Unix sockets, msgpack, TLS, invalidations after
// a restart, …) against the real binary.
func TestPythonDoctests(t *testing.T) {
	conformance(t, "doctests")
}

func conformance(t *testing.T, suites ...string) {
	t.Helper()
	conformanceWith(t, nil, suites...)
}

// conformanceWith runs conformance.py with further environment variables
// (CAIRN_OBJECTSTORE_ARGS adds flags to every server it starts).
func conformanceWith(t *testing.T, env []string, suites ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("the Python conformance suites take minutes; run without -short")
	}
	out := runPython(t, 10*time.Minute, append([]string{"CAIRN_OBJECTSTORE_BIN=" + bin}, env...),
		append([]string{filepath.Join(scriptDir(), "conformance.py")}, suites...)...)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "conformance:") || strings.HasPrefix(line, "XPASS") {
			t.Log(line)
		}
	}
}

// TestPythonStress: eight Python processes commit to one BTree and one
// BTrees.Length at once, resolving conflicts on the client; afterwards the
// totals and the tree's structure must be exact.
func TestPythonStress(t *testing.T) {
	if testing.Short() {
		t.Skip("starts eight Python processes")
	}
	_, addr := startServer(t)
	out := runPython(t, 5*time.Minute, []string{"ZEO_ADDR=" + addr}, filepath.Join(scriptDir(), "stress.py"), "8", "50")
	if !strings.Contains(out, "stress: 5 passed, 0 failed") {
		t.Errorf("stress output:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "stress:") {
			t.Log(line)
		}
	}
}

// TestPythonNamedStorage: stock ClientStorage clients register with the
// default storage and with a second one, named on the command line.
func TestPythonNamedStorage(t *testing.T) {
	dir := t.TempDir()
	_, addr := startServer(t, "-storage", "name=catalog,data="+filepath.Join(dir, "catalog.db"))
	out := runPython(t, 2*time.Minute, []string{"ZEO_ADDR=" + addr}, filepath.Join(scriptDir(), "named.py"))
	if !strings.Contains(out, "named: 3 passed, 0 failed") {
		t.Errorf("named output:\n%s", out)
	}
}

// TestPythonTLS: a stock ClientStorage with an ssl context, presenting a
// client certificate, against a server that requires one.
func TestPythonTLS(t *testing.T) {
	certs, err := testcert.Write(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	_, addr := startServer(t, "-tls-cert", certs.ServerCert, "-tls-key", certs.ServerKey, "-tls-client-ca", certs.CA)
	out := runPython(t, 2*time.Minute, []string{"ZEO_ADDR=" + addr, "TLS_CA=" + certs.CA,
		"TLS_CLIENT_CERT=" + certs.ClientCert, "TLS_CLIENT_KEY=" + certs.ClientKey},
		filepath.Join(scriptDir(), "tls.py"))
	if !strings.Contains(out, "tls: 3 passed, 0 failed") {
		t.Errorf("tls output:\n%s", out)
	}
}

// TestPythonMsgpack: with -msgpack the server announces M5 and stock
// clients follow: the smoke test (commits, reads, a resolved conflict) and
// ZEO's generic client tests run over the msgpack encoding.
func TestPythonMsgpack(t *testing.T) {
	_, addr := startServer(t, "-msgpack")
	out := runPython(t, 2*time.Minute, []string{"ZEO_ADDR=" + addr}, filepath.Join(scriptDir(), "smoke.py"))
	if !strings.Contains(out, "smoke: protocol M5") || !strings.Contains(out, "smoke: 4 passed, 0 failed") {
		t.Errorf("smoke output:\n%s", out)
	}
	conformanceWith(t, []string{"CAIRN_OBJECTSTORE_ARGS=-msgpack"}, "generic")
}

// TestReloadRefusesAnyChange: a reload is accepted only with the
// configuration unchanged, every field counted — also those the start-up
// line leaves out (max_frame, tls_client_ca …), which were reported
// reloaded and silently kept.
func TestReloadRefusesAnyChange(t *testing.T) {
	load := func(extra string) *objectstore.Config {
		cfg := objectstore.NewConfig()
		doc := "[objectstore]\nlisten = \"127.0.0.1:1\"\ndata = \"x.db\"\n" + extra
		if _, err := sitefile.Decode("site.toml", []byte(doc), "objectstore", &sitefile.Site{}, cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(sitefile.Site{}); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	svc := service{cfg: *load("")}
	if err := svc.Reload(load("")); err != nil {
		t.Errorf("the same configuration: %v", err)
	}
	for _, change := range []string{"max_frame = \"1M\"\n", "invalidation_queue_size = 5\n", "no_sync = true\n"} {
		if err := svc.Reload(load(change)); err == nil {
			t.Errorf("%q accepted by reload", change)
		}
	}
}

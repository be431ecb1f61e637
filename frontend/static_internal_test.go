package frontend

import (
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// cleanWant is what cleanName must return: path.Clean's answer.
func cleanWant(rel string) string { return strings.TrimPrefix(path.Clean("/"+rel), "/") }

func TestCleanName(t *testing.T) {
	for _, rel := range []string{"", "a", "a/b.css", "a//b", "/a", "a/", "./a", "a/./b", "a/..", "../a",
		"a/../../b", ".", "..", "...", "a/...b", ".a/b.", "a/b/", "//", "a/.", "a/..", "/page.html", "//a", "/a/b/", "/"} {
		if got, want := cleanName(rel), cleanWant(rel); got != want {
			t.Errorf("cleanName(%q) = %q; want %q", rel, got, want)
		}
	}
}

// FuzzCleanName holds cleanName to path.Clean.
func FuzzCleanName(f *testing.F) {
	for _, s := range []string{"", "a/b", "a//b", "./a", "a/..", "/a/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, rel string) {
		if got, want := cleanName(rel), cleanWant(rel); got != want {
			t.Fatalf("cleanName(%q) = %q; want %q", rel, got, want)
		}
	})
}

// TestStaticLookupHitAllocates: a file found in the cache costs no
// allocation, and two keys that differ only in how their pieces split
// (folder, name, index) are two entries.
func TestStaticLookupHitAllocates(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "a"), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, body := range map[string]string{"a/b.css": "css", "a/index.html": "index", "a/b.cssx": "other"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	fc, err := newFileCache(1<<20, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.close()
	s, err := openStaticRoot(dir, fc)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	now := time.Now()
	lookup := func(rel, index string, folder bool) string {
		e, f, err := s.lookup(rel, index, folder, now)
		if err != nil || f != nil {
			t.Fatalf("lookup(%q, %q): %v", rel, index, err)
		}
		return string(e.body)
	}
	for range 3 { // ristretto admits entries asynchronously
		lookup("/a/b.css", "index.html", false)
		lookup("a/", "index.html", true)
		lookup("a/b.css", "x", false)
		fc.c.Wait()
	}
	if got := lookup("a/", "index.html", true); got != "index" {
		t.Errorf("the folder: %q", got)
	}
	if got := lookup("a/b.css", "x", false); got != "css" {
		t.Errorf("another index name: %q", got)
	}
	if n := testing.AllocsPerRun(1000, func() { _, _, _ = s.lookup("/a/b.css", "index.html", false, now) }); n >= 1 {
		t.Errorf("a cached file: %.1f allocations a lookup; want none", n)
	}
}

// An entry the cache refused, compressed by the request that looked it up,
// is not set again (it would come back stale, and its kept file be counted
// off twice): the count of kept files stays true.
func TestStaticKeptCountAfterRefusal(t *testing.T) {
	fc, err := newFileCache(4<<10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.close()
	p := filepath.Join(t.TempDir(), "a.html")
	if err := os.WriteFile(p, make([]byte, 9000), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	key := fileKey{dir: "d", name: "a.html"}
	e := &staticFile{size: 9000, body: make([]byte, 9000), key: key}
	if !fc.keepFile(e, f) {
		t.Fatal("file not kept")
	}
	fc.set(key, e) // over the cache's size: refused
	fc.c.Wait()
	(&staticRoot{cache: fc}).encoded(e, "gzip")
	fc.c.Wait()
	if n := fc.kept.Load(); n != 0 {
		t.Errorf("kept files counted %d; want 0", n)
	}
	if e.holds.Load() != 0 {
		t.Errorf("holds %d; want 0", e.holds.Load())
	}
}

package logfile

import (
	"os"
	"path/filepath"
	"testing"
)

func TestReopenAfterRotation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("two\n")); err != nil { // still the rotated file
		t.Fatal(err)
	}
	if err := f.Reopen(); err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write([]byte("three\n")); err != nil {
		t.Fatal(err)
	}
	old, _ := os.ReadFile(path + ".1")
	cur, _ := os.ReadFile(path)
	if string(old) != "one\ntwo\n" || string(cur) != "three\n" {
		t.Errorf("rotated %q, new %q", old, cur)
	}
}

func TestReopenFailureKeepsWriting(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "x.log")
	if err := os.Mkdir(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := os.RemoveAll(filepath.Dir(path)); err != nil {
		t.Fatal(err)
	}
	if err := f.Reopen(); err == nil {
		t.Errorf("reopen into a missing folder succeeded")
	}
	if _, err := f.Write([]byte("still\n")); err != nil {
		t.Errorf("write after a failed reopen: %v", err)
	}
}

func TestStandardStreams(t *testing.T) {
	for _, p := range []string{"", "stderr", "stdout", "-"} {
		f, err := Open(p)
		if err != nil || f.Reopen() != nil || f.Close() != nil {
			t.Errorf("Open(%q): %v", p, err)
		}
	}
}

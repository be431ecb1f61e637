package blobstore

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestLayoutAndCommit(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "blobs")
	d, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, LayoutMarker)); string(b) != "bushy\n" {
		t.Errorf(".layout = %q", b)
	}
	oid := [8]byte{0, 0, 0, 0, 0, 0, 0, 1}
	tid := [8]byte{0x03, 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07}
	if got, want := d.BlobPath(oid, tid), filepath.Join(dir, "0x00/0x00/0x00/0x00/0x00/0x00/0x00/0x01/0x03a1b2c3d4e5f607.blob"); got != want {
		t.Errorf("BlobPath = %s; want %s", got, want)
	}
	if Repr([8]byte{}) != "0x00" || Repr(oid) != "0x01" || Repr([8]byte{0, 0, 0, 0, 0, 0, 1, 0}) != "0x0100" {
		t.Errorf("Repr: %s %s", Repr([8]byte{}), Repr(oid))
	}
	f, err := d.CreateTemp()
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString("blob data")
	f.Close()
	if d.Exists(oid, tid) {
		t.Fatal("blob exists before commit")
	}
	if err := d.Commit(f.Name(), oid, tid); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(d.BlobPath(oid, tid)); string(b) != "blob data" {
		t.Errorf("committed blob = %q", b)
	}
	tid2 := tid
	tid2[7]++
	if err := d.CopyBlob(oid, tid, tid2); err != nil || !d.Exists(oid, tid2) {
		t.Errorf("CopyBlob: %v", err)
	}
	if n := d.Size(); n != 2*int64(len("blob data")) {
		t.Errorf("Size = %d", n)
	}
	// The directory is held until Close; reopening keeps the marker;
	// another layout is refused.
	if _, err := Open(dir); !errors.Is(err, ErrInUse) {
		t.Errorf("second Open while held: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	d.Close()
	os.WriteFile(filepath.Join(dir, LayoutMarker), []byte("lawn\n"), 0o600)
	if _, err := Open(dir); !errors.Is(err, ErrLayout) {
		t.Errorf("lawn layout: %v", err)
	}
}

// TestSweep: the server's own temporary files of an earlier run (uploads,
// claimed votes) are removed; clients' files, committed blobs and
// anything else are not.
func TestSweep(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	upload, err := d.CreateTemp()
	if err != nil {
		t.Fatal(err)
	}
	upload.WriteString("12345")
	upload.Close()
	client := filepath.Join(d.TempDir(), "tmpx1y2z3.tmp") // a shared-dir client's name
	os.WriteFile(client, []byte("client"), 0o600)
	src := filepath.Join(d.TempDir(), "to-claim")
	os.WriteFile(src, []byte("abc"), 0o600)
	claimed, err := d.Claim(src)
	if err != nil {
		t.Fatal(err)
	}
	oid, tid := [8]byte{7: 1}, [8]byte{7: 2}
	committed, _ := d.CreateTemp()
	committed.Close()
	if err := d.Commit(committed.Name(), oid, tid); err != nil {
		t.Fatal(err)
	}
	os.Mkdir(filepath.Join(d.TempDir(), "upload-dir.tmp"), 0o700)

	files, size, err := d.Sweep()
	if err != nil || files != 2 || size != 8 {
		t.Errorf("Sweep = %d files, %d bytes, %v; want 2, 8", files, size, err)
	}
	for _, gone := range []string{upload.Name(), claimed} {
		if _, err := os.Stat(gone); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s left: %v", gone, err)
		}
	}
	for _, kept := range []string{client, d.BlobPath(oid, tid), filepath.Join(d.TempDir(), "upload-dir.tmp")} {
		if _, err := os.Stat(kept); err != nil {
			t.Errorf("%s removed: %v", kept, err)
		}
	}
}

func TestSharedTempNames(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var oid [8]byte
	for _, bad := range []string{"", "../x.tmp", "a/b.tmp", "x.blob", "..", "/etc/passwd.tmp"} {
		if _, err := d.SharedTemp(oid, bad); !errors.Is(err, ErrBadName) {
			t.Errorf("SharedTemp(%q) = %v", bad, err)
		}
	}
	for _, good := range []string{"0x00abc.tmp", "0x01xyz.tmp-"} {
		if p, err := d.SharedTemp(oid, good); err != nil || filepath.Base(p) != good {
			t.Errorf("SharedTemp(%q) = %s %v", good, p, err)
		}
	}
}

// Package blobstore keeps ZODB blob files in a directory laid out as ZODB's
// BushyLayout does, so that ZEO clients configured with a shared blob
// directory (shared_blob_dir=True) read the same files the server writes.
//
// # Layout
//
//	<dir>/.layout                the word "bushy" (clients detect the layout from it)
//	<dir>/tmp/                   temporary files (streamed uploads, downloads)
//	<dir>/0x00/0x00/.../0x01/    one directory level per oid byte, most significant first
//	    0x03a1b2c3d4e5f607.blob  one file per revision, named after the tid
//
// Names follow ZODB's oid_repr/tid_repr: "0x" and the hex digits without
// leading zeros, padded to an even count ("0x00" for zero).
//
// # Atomicity
//
// A blob file appears under its final name only when its transaction is
// committed: Commit renames an already written and fsynced temporary file
// into place and fsyncs the directory, so after a crash a name either is
// absent or names complete content. Temporary files left by a crash stay
// in tmp/ (or as "*.tmp-" files of clients in an oid directory) and are
// never mistaken for blobs; Sweep removes the server's own at its next
// start.
//
// # One server per directory
//
// Blob files are named by oid and tid only, so two storages writing one
// directory would overwrite each other's files, and one server's Sweep
// would remove another's uploads: Open takes an exclusive lock
// (<dir>/.cairn-objectstore.lock, flock) that Close releases, and a second
// Open of the directory, in any process, fails with ErrInUse. Clients
// sharing the directory take no lock.
//
// A Dir is safe for concurrent use.
package blobstore

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// LayoutMarker is the name of the file that names the layout.
const LayoutMarker = ".layout"

// Layout is the only layout this package writes.
const Layout = "bushy"

// ErrLayout is returned by Open for a directory in another layout.
var ErrLayout = errors.New("blobstore: directory uses another layout")

// ErrInUse is returned by Open for a directory another storage has open.
var ErrInUse = errors.New("blobstore: blob directory is in use by another storage")

// lockName is the file Open locks.
const lockName = ".cairn-objectstore.lock"

// ErrBadName is returned for a client-supplied file name that could
// escape its oid directory.
var ErrBadName = errors.New("blobstore: bad temporary file name")

// Dir is a blob directory.
type Dir struct {
	path string
	lock *os.File // holds the directory's flock
}

// Open prepares the blob directory at path: it creates it, its tmp/
// subdirectory and the layout marker when missing, checks the marker of an
// existing directory, and locks it (ErrInUse when another Dir has it).
func Open(path string) (*Dir, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(abs, "tmp"), 0o700); err != nil {
		return nil, fmt.Errorf("blobstore: %w", err)
	}
	marker := filepath.Join(abs, LayoutMarker)
	b, err := os.ReadFile(marker)
	switch {
	case errors.Is(err, os.ErrNotExist):
		if err := writeFileSync(marker, []byte(Layout+"\n")); err != nil {
			return nil, fmt.Errorf("blobstore: %w", err)
		}
	case err != nil:
		return nil, fmt.Errorf("blobstore: %w", err)
	case strings.TrimSpace(string(b)) != Layout:
		return nil, fmt.Errorf("%w: %q in %s", ErrLayout, strings.TrimSpace(string(b)), marker)
	}
	lock, err := os.OpenFile(filepath.Join(abs, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("blobstore: %w", err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrInUse, abs)
		}
		return nil, fmt.Errorf("blobstore: lock %s: %w", abs, err)
	}
	return &Dir{path: abs, lock: lock}, nil
}

// Close releases the directory's lock.
func (d *Dir) Close() error { return d.lock.Close() }

// tempPatterns are the names of the server's own temporary files in
// tmp/: streamed uploads and undo copies (CreateTemp), and files claimed
// at vote (Claim).
var tempPatterns = [...]string{"upload-*.tmp", "vote-*.tmp"}

// Sweep removes the temporary files a server left in tmp/ when it stopped
// without finishing their transactions (a crash, a kill): a file there
// belongs to a connection or a vote of that run, never to a committed
// blob, which Commit renames out of tmp/ before its transaction's records
// are written. Clients' files are left alone. Call it at start, holding
// the directory (Open), before any client connects.
func (d *Dir) Sweep() (files int, bytes int64, err error) {
	for _, pat := range tempPatterns {
		names, err := filepath.Glob(filepath.Join(d.TempDir(), pat))
		if err != nil {
			return files, bytes, fmt.Errorf("blobstore: %w", err)
		}
		for _, name := range names {
			fi, err := os.Lstat(name)
			if err != nil || !fi.Mode().IsRegular() {
				continue
			}
			if err := os.Remove(name); err != nil {
				return files, bytes, fmt.Errorf("blobstore: %w", err)
			}
			files++
			bytes += fi.Size()
		}
	}
	return files, bytes, nil
}

// Path returns the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// TempDir returns the directory for temporary files.
func (d *Dir) TempDir() string { return filepath.Join(d.path, "tmp") }

// Repr formats an oid or tid as ZODB's oid_repr and tid_repr do.
func Repr(id [8]byte) string {
	s := strings.TrimLeft(hex.EncodeToString(id[:]), "0")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if s == "" {
		s = "00"
	}
	return "0x" + s
}

// OIDDir returns the directory of an oid's blob files.
func (d *Dir) OIDDir(oid [8]byte) string {
	parts := make([]string, 0, 9)
	parts = append(parts, d.path)
	for _, b := range oid {
		parts = append(parts, fmt.Sprintf("0x%02x", b))
	}
	return filepath.Join(parts...)
}

// BlobPath returns the file of the blob of oid at tid.
func (d *Dir) BlobPath(oid, tid [8]byte) string {
	return filepath.Join(d.OIDDir(oid), Repr(tid)+".blob")
}

// SharedTemp returns the path of a temporary file a client wrote into the
// oid's directory (storeBlobShared). The name must be a plain base name
// ending in ".tmp" or ".tmp-", as ZEO requires.
func (d *Dir) SharedTemp(oid [8]byte, name string) (string, error) {
	if name == "" || name != filepath.Base(name) || strings.ContainsAny(name, `/\`) || name == "." || name == ".." ||
		!(strings.HasSuffix(name, ".tmp") || strings.HasSuffix(name, ".tmp-")) {
		return "", fmt.Errorf("%w: %q", ErrBadName, name)
	}
	return filepath.Join(d.OIDDir(oid), name), nil
}

// CreateTemp creates a temporary file in tmp/ for a streamed upload.
func (d *Dir) CreateTemp() (*os.File, error) {
	return os.CreateTemp(d.TempDir(), "upload-*.tmp")
}

// Claim moves a temporary blob file the server was handed (a client's
// file in its oid directory, or an upload) into tmp/ under a name of the
// server's own, as ZEO's server does at vote: what becomes of the original
// name afterwards (a client removing its file) no longer matters, and a
// file that cannot be claimed fails that transaction's vote rather than
// the write of its commit, which would stop every commit of the storage.
func (d *Dir) Claim(src string) (string, error) {
	f, err := os.CreateTemp(d.TempDir(), "vote-*.tmp")
	if err != nil {
		return "", fmt.Errorf("blobstore: %w", err)
	}
	name := f.Name()
	f.Close()
	if err := os.Rename(src, name); err != nil {
		os.Remove(name)
		return "", fmt.Errorf("blobstore: %w", err)
	}
	return name, nil
}

// Commit moves the temporary file src to the blob of oid at tid: it
// fsyncs src, renames it into place and fsyncs the directories it touched,
// so the blob exists completely or not at all.
func (d *Dir) Commit(src string, oid, tid [8]byte) error {
	dst := d.BlobPath(oid, tid)
	dir := filepath.Dir(dst)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	if err := syncPath(src); err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	if err := os.Rename(src, dst); err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	if err := syncPath(dir); err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	if srcDir := filepath.Dir(src); srcDir != dir {
		_ = syncPath(srcDir)
	}
	return nil
}

// CopyBlob makes the blob of oid at tid a copy of the blob at from (undo
// of a blob revision).
func (d *Dir) CopyBlob(oid, from, tid [8]byte) error {
	in, err := os.Open(d.BlobPath(oid, from))
	if err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	defer in.Close()
	tmp, err := d.CreateTemp()
	if err != nil {
		return fmt.Errorf("blobstore: %w", err)
	}
	if _, err := io.Copy(tmp, in); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("blobstore: %w", err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("blobstore: %w", err)
	}
	return d.Commit(tmp.Name(), oid, tid)
}

// Exists reports whether the blob of oid at tid is there.
func (d *Dir) Exists(oid, tid [8]byte) bool {
	_, err := os.Stat(d.BlobPath(oid, tid))
	return err == nil
}

// Size returns the total bytes of the committed blob files.
func (d *Dir) Size() int64 {
	var n int64
	_ = filepath.WalkDir(d.path, func(p string, e os.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if e.IsDir() && p == d.TempDir() {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(p, ".blob") {
			if fi, err := e.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func syncPath(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

func writeFileSync(p string, data []byte) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return syncPath(filepath.Dir(p))
}

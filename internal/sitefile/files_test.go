package sitefile_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/cairnstack/cairn/internal/sitefile"
)

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	small := filepath.Join(dir, "small")
	if err := os.WriteFile(small, []byte("0123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := sitefile.ReadFile(small, 10); err != nil || string(b) != "0123456789" {
		t.Errorf("ReadFile(10 bytes, limit 10) = %q, %v", b, err)
	}
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	// A FIFO with no writer blocks a plain open for ever.
	for _, tc := range []struct {
		path  string
		limit int64
		want  string
	}{
		{small, 9, "10 bytes, more than the 9 allowed"},
		{dir, 1 << 20, "not a regular file"},
		{fifo, 1 << 20, "not a regular file"},
		{"/dev/zero", 1 << 20, "not a regular file"},
		{filepath.Join(dir, "missing"), 1 << 20, "no such file"},
	} {
		b, err := sitefile.ReadFile(tc.path, tc.limit)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), tc.path) || b != nil {
			t.Errorf("ReadFile(%s, %d) = %d bytes, %v; want an error naming it: %s", tc.path, tc.limit, len(b), err, tc.want)
		}
	}
}

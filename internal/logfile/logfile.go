// Package logfile is a log destination that can be reopened: logrotate
// renames the file, then the tier is sent SIGUSR1 and starts a new one at
// the same path (as nginx does on USR1).
package logfile

import (
	"fmt"
	"io"
	"os"
	"sync"
)

// File is an io.Writer onto a path, "stdout" or "stderr". It is safe for
// concurrent use; each Write is passed whole to the file.
type File struct {
	path string
	std  io.Writer // set for stdout/stderr, which are never reopened

	mu sync.Mutex // guards f
	f  *os.File
}

// Open opens path for appending (creating it with mode 0644), or wraps the
// standard streams for "stdout", "stderr" and "" (stderr).
func Open(path string) (*File, error) {
	switch path {
	case "", "stderr":
		return &File{path: "stderr", std: os.Stderr}, nil
	case "stdout", "-":
		return &File{path: "stdout", std: os.Stdout}, nil
	}
	f, err := openAppend(path)
	if err != nil {
		return nil, err
	}
	return &File{path: path, f: f}, nil
}

func openAppend(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// Path returns the path given to Open ("stdout"/"stderr" for the streams).
func (l *File) Path() string { return l.path }

// Write writes p to the current file.
func (l *File) Write(p []byte) (int, error) {
	if l.std != nil {
		return l.std.Write(p)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Write(p)
}

// Reopen closes the current file and opens path again. If the new open
// fails, writes go on to the old file and the error is returned.
func (l *File) Reopen() error {
	if l.std != nil {
		return nil
	}
	f, err := openAppend(l.path)
	if err != nil {
		return err
	}
	l.mu.Lock()
	old := l.f
	l.f = f
	l.mu.Unlock()
	return old.Close()
}

// Close closes the file; the standard streams are left open.
func (l *File) Close() error {
	if l.std != nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.Close()
}

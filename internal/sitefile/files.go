package sitefile

import (
	"crypto/tls"
	"fmt"
	"io"
	"os"
	"syscall"
)

// ReadFile reads a file a configuration names (the site file itself, an
// error page, an htpasswd file, a certificate): a regular file of at most
// limit bytes. Anything else is an error naming the path, not a start-up
// that hangs on a FIFO or a device, or fills memory with a log file named
// by mistake. It is read once, through the open file, so a file replaced
// between the check and the read is still bounded.
func ReadFile(path string, limit int64) ([]byte, error) {
	// Non-blocking, so that opening a FIFO without a writer returns at
	// once (to be refused below); it changes nothing for a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: not a regular file", path)
	}
	if fi.Size() > limit {
		return nil, fmt.Errorf("%s: %d bytes, more than the %s allowed", path, fi.Size(), Size(limit))
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit { // it grew after Stat
		return nil, fmt.Errorf("%s: more than the %s allowed", path, Size(limit))
	}
	return b, nil
}

// Limits of ReadFile for the kinds of file a configuration names.
const (
	MaxSiteFile = 16 << 20 // a site file, an htpasswd file
	MaxPEMFile  = 1 << 20  // a certificate, key or CA bundle
	MaxPageFile = 1 << 20  // an error page, held in memory
)

// KeyPair reads a PEM certificate (chain) and its key, as
// tls.LoadX509KeyPair does, through ReadFile.
func KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	cert, err := ReadFile(certFile, MaxPEMFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	key, err := ReadFile(keyFile, MaxPEMFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(cert, key)
}

// Package listener holds what every tier's listening sockets share: an
// accept that rides out a shortage of file descriptors or kernel memory.
//
// Both fasthttp's accept loop and a plain one stop for good on any accept
// error that is not a timeout, and a tier's Serve returning ends the
// process: a burst of clients (or one client opening connections) past the
// process's descriptor limit took the whole tier down. Go's net/http waits
// and tries again on every accept error; this does so on the errors that
// pass (EMFILE, ENFILE, ENOBUFS, ENOMEM, ECONNABORTED), and still returns
// those that mean the listener is gone.
package listener

import (
	"errors"
	"log/slog"
	"net"
	"syscall"
	"time"
)

// Patient is a listener whose Accept waits out passing shortages.
type Patient struct {
	net.Listener
	Logger *slog.Logger // told once a second at most while it waits
	logged time.Time
}

// maxBackoff bounds the wait between tries.
const maxBackoff = time.Second

// Accept returns the next connection, trying again after a passing error
// with a growing pause (5 ms doubling up to a second).
func (l *Patient) Accept() (net.Conn, error) {
	delay := 5 * time.Millisecond
	for {
		c, err := l.Listener.Accept()
		if err == nil || !passing(err) {
			return c, err
		}
		if now := time.Now(); l.Logger != nil && now.Sub(l.logged) >= time.Second {
			l.logged = now
			l.Logger.Error("accept failed; trying again", "err", err, "in", delay)
		}
		time.Sleep(delay)
		delay = min(2*delay, maxBackoff)
	}
}

// passing reports whether an accept error is a shortage that may pass.
func passing(err error) bool {
	for _, e := range []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOBUFS, syscall.ENOMEM, syscall.ECONNABORTED} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

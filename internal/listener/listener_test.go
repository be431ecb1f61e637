package listener_test

import (
	"errors"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/cairnstack/cairn/internal/listener"
)

// script is a listener whose Accept returns its errors in turn, then a
// connection.
type script struct {
	net.Listener
	errs []error
}

func (s *script) Accept() (net.Conn, error) {
	if len(s.errs) > 0 {
		err := s.errs[0]
		s.errs = s.errs[1:]
		return nil, err
	}
	a, _ := net.Pipe()
	return a, nil
}

func accepting(errno syscall.Errno) error {
	return &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", errno)}
}

// TestPatientWaitsOutShortages: EMFILE and the like are waited out; an
// error that means the listener is gone is returned at once.
func TestPatientWaitsOutShortages(t *testing.T) {
	l := &listener.Patient{Listener: &script{errs: []error{accepting(syscall.EMFILE), accepting(syscall.ENFILE), accepting(syscall.ECONNABORTED)}}}
	if c, err := l.Accept(); err != nil || c == nil {
		t.Fatalf("after passing errors: %v, %v; want a connection", c, err)
	}
	l = &listener.Patient{Listener: &script{errs: []error{net.ErrClosed}}}
	if _, err := l.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("a closed listener: %v; want net.ErrClosed", err)
	}
}

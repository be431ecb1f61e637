package frontend

import (
	"crypto/tls"
	"sync/atomic"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// certStore holds a listener's certificate; a reload swaps it, and new
// handshakes use the new one while open connections keep theirs.
type certStore struct {
	cert atomic.Pointer[tls.Certificate]
}

func loadCert(certFile, keyFile string) (*tls.Certificate, error) {
	c, err := sitefile.KeyPair(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// tlsConfig is a modern default: TLS 1.2 and 1.3 only, Go's AEAD cipher
// suites with forward secrecy, HTTP/1.1 (fasthttp speaks no HTTP/2).
func (s *certStore) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		NextProtos: []string{"http/1.1"},
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return s.cert.Load(), nil
		},
	}
}

package objectstore

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// Config is the [objectstore] section of the site file. Every field's
// comment gives its unit and what its zero value means; Validate applies
// defaults.
type Config struct {
	// Listen is where ZEO clients connect: "host:port", a name from the
	// site's [ports], or "unix:/path/to/socket". Default: the site's
	// "objectstore" address (127.0.0.1:8501). Port 0 picks a free port;
	// the address actually bound is logged ("zeo listening").
	Listen string `toml:"listen"`
	// Data is the storage file (bbolt). Default "var/objectstore.db".
	Data string `toml:"data"`
	// BlobDir is the blob directory, shareable with clients that set
	// shared_blob_dir (bushy layout). Empty: blobs are not supported.
	BlobDir string `toml:"blob_dir"`
	// Name is the storage name clients register with (ZEO's storage id).
	// Default "1", ZEO's default.
	Name string `toml:"name"`
	// ReadOnly refuses every write; clients must register read-only.
	ReadOnly bool `toml:"read_only"`
	// TransactionTimeout closes a client that holds the commit lock
	// longer than this (ZEO's transaction-timeout). Zero: no limit.
	TransactionTimeout sitefile.Duration `toml:"transaction_timeout"`
	// InvalidationQueueSize is how many recent transactions
	// getInvalidations can report to a reconnecting client
	// (invalidation-queue-size). Default 100.
	InvalidationQueueSize int `toml:"invalidation_queue_size"`
	// MaxFrame is the largest message accepted; a larger one closes the
	// connection. Default 256M.
	MaxFrame sitefile.Size `toml:"max_frame"`
	// TLSCert and TLSKey are PEM files; both set makes clients connect
	// with TLS (ZEO's ssl option).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// NoSync skips fsync on commit. Only for tests: a crash loses commits.
	NoSync bool `toml:"no_sync"`

	// Set by Validate.
	listenNet, listenAddr string
}

// NewConfig returns a configuration holding the defaults.
func NewConfig() *Config {
	return &Config{
		Data:                  "var/objectstore.db",
		Name:                  "1",
		InvalidationQueueSize: 100,
		MaxFrame:              256 << 20,
	}
}

// RegisterFlags adds one flag per field.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, `ZEO listen address: host:port, a [ports] name, or unix:/path (default: the site's "objectstore")`)
	fs.StringVar(&c.Data, "data", c.Data, "storage file")
	fs.StringVar(&c.BlobDir, "blob-dir", c.BlobDir, "blob directory (empty: no blobs)")
	fs.StringVar(&c.Name, "name", c.Name, "storage name clients register with")
	fs.BoolVar(&c.ReadOnly, "read-only", c.ReadOnly, "refuse all writes")
	fs.Var(&c.TransactionTimeout, "transaction-timeout", "close a client holding the commit lock longer than this (0: never)")
	fs.IntVar(&c.InvalidationQueueSize, "invalidation-queue-size", c.InvalidationQueueSize, "transactions kept for getInvalidations")
	fs.Var(&c.MaxFrame, "max-frame", "largest message accepted")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM)")
	fs.BoolVar(&c.NoSync, "no-sync", c.NoSync, "skip fsync on commit (tests only)")
}

// Validate applies defaults, resolves the listen address against the site
// and checks the values.
func (c *Config) Validate(site sitefile.Site) error {
	if c.Listen == "" {
		c.Listen = "objectstore"
	}
	if path, ok := strings.CutPrefix(c.Listen, "unix:"); ok {
		if path == "" {
			return sitefile.Errorf("listen", "empty unix socket path")
		}
		c.listenNet, c.listenAddr = "unix", path
	} else {
		addr, err := site.Addr(c.Listen)
		if err != nil {
			return &sitefile.FieldError{Key: "listen", Err: err}
		}
		c.listenNet, c.listenAddr = "tcp", addr
	}
	if c.Data == "" {
		return sitefile.Errorf("data", "empty storage file path")
	}
	if c.Name == "" {
		c.Name = "1"
	}
	if c.InvalidationQueueSize <= 0 {
		c.InvalidationQueueSize = 100
	}
	if c.MaxFrame <= 0 {
		c.MaxFrame = 256 << 20
	}
	if c.MaxFrame > 1<<31 {
		return sitefile.Errorf("max_frame", "at most 2G")
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return sitefile.Errorf("tls_cert", "tls_cert and tls_key go together")
	}
	return nil
}

// ListenAddr returns the network ("tcp" or "unix") and address Validate
// resolved.
func (c *Config) ListenAddr() (network, addr string) { return c.listenNet, c.listenAddr }

func (c *Config) transactionTimeout() time.Duration { return c.TransactionTimeout.D() }

var errNotValidated = errors.New("objectstore: configuration not validated")

func (c *Config) check() error {
	if c.listenNet == "" {
		return errNotValidated
	}
	return nil
}

// String is the configuration as logged at start.
func (c Config) String() string {
	return fmt.Sprintf("listen=%s data=%s blob_dir=%q name=%q read_only=%v transaction_timeout=%s", c.Listen, c.Data, c.BlobDir, c.Name, c.ReadOnly, c.TransactionTimeout.D())
}

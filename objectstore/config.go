package objectstore

import (
	"errors"
	"flag"
	"fmt"
	"path/filepath"
	"strconv"
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
	// Data is the default storage's file (bbolt). Default
	// "var/objectstore.db".
	Data string `toml:"data"`
	// BlobDir is the default storage's blob directory, shareable with
	// clients that set shared_blob_dir (bushy layout). Empty: blobs are
	// not supported.
	BlobDir string `toml:"blob_dir"`
	// Name is the name clients register the default storage with (ZEO's
	// storage id). Default "1", ZEO's default.
	Name string `toml:"name"`
	// ReadOnly makes the default storage refuse every write; clients must
	// register read-only.
	ReadOnly bool `toml:"read_only"`
	// Storages are further named storages served beside the default one
	// (ZEO's several <filestorage name> sections), one
	// [[objectstore.storages]] table each. Names and data files must be
	// unique, the default storage's included. Empty: only the default.
	Storages []StorageConfig `toml:"storages"`
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
	// with TLS (ZEO's <ssl> certificate and key).
	TLSCert string `toml:"tls_cert"`
	TLSKey  string `toml:"tls_key"`
	// TLSClientCA is a PEM file of the certificates that sign (or are)
	// the client certificates to accept; set, clients must present one
	// (ZEO's <ssl> authenticate). Empty: clients are not authenticated.
	TLSClientCA string `toml:"tls_client_ca"`
	// Msgpack announces the msgpack encoding ("M5") instead of pickle
	// ("Z5"), like ZEO's msgpack option; clients follow the announcement.
	Msgpack bool `toml:"msgpack"`
	// NoSync skips fsync on commit. Only for tests: a crash loses commits.
	NoSync bool `toml:"no_sync"`

	// Set by Validate.
	listenNet, listenAddr string
}

// StorageConfig is one named storage of [[objectstore.storages]].
type StorageConfig struct {
	// Name is what clients register with (ClientStorage's storage
	// argument). Required.
	Name string `toml:"name"`
	// Data is the storage file (bbolt). Required.
	Data string `toml:"data"`
	// BlobDir is the storage's blob directory. Empty: no blobs.
	BlobDir string `toml:"blob_dir"`
	// ReadOnly refuses every write to this storage.
	ReadOnly bool `toml:"read_only"`
}

// String is the flag form of the storage: name=…,data=…[,blob_dir=…][,read_only=true].
func (sc StorageConfig) String() string {
	s := "name=" + sc.Name + ",data=" + sc.Data
	if sc.BlobDir != "" {
		s += ",blob_dir=" + sc.BlobDir
	}
	if sc.ReadOnly {
		s += ",read_only=true"
	}
	return s
}

// parseStorage reads the flag form of a storage.
func parseStorage(v string) (StorageConfig, error) {
	var sc StorageConfig
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(kv, "=")
		if !ok {
			return sc, fmt.Errorf("%q is not key=value", kv)
		}
		switch strings.TrimSpace(k) {
		case "name":
			sc.Name = val
		case "data":
			sc.Data = val
		case "blob_dir":
			sc.BlobDir = val
		case "read_only":
			b, err := strconv.ParseBool(val)
			if err != nil {
				return sc, fmt.Errorf("read_only: %w", err)
			}
			sc.ReadOnly = b
		default:
			return sc, fmt.Errorf("unknown key %q (want name, data, blob_dir, read_only)", k)
		}
	}
	return sc, nil
}

// storagesFlag appends one storage per -storage flag.
type storagesFlag struct{ list *[]StorageConfig }

func (f storagesFlag) String() string {
	if f.list == nil {
		return ""
	}
	parts := make([]string, len(*f.list))
	for i, sc := range *f.list {
		parts[i] = sc.String()
	}
	return strings.Join(parts, " ")
}

func (f storagesFlag) Set(v string) error {
	sc, err := parseStorage(v)
	if err != nil {
		return err
	}
	*f.list = append(*f.list, sc)
	return nil
}

// all returns the default storage followed by the named ones.
func (c *Config) all() []StorageConfig {
	return append([]StorageConfig{{Name: c.Name, Data: c.Data, BlobDir: c.BlobDir, ReadOnly: c.ReadOnly}}, c.Storages...)
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
	fs.StringVar(&c.Data, "data", c.Data, "default storage's file")
	fs.StringVar(&c.BlobDir, "blob-dir", c.BlobDir, "default storage's blob directory (empty: no blobs)")
	fs.StringVar(&c.Name, "name", c.Name, "default storage's name, which clients register with")
	fs.BoolVar(&c.ReadOnly, "read-only", c.ReadOnly, "refuse all writes to the default storage")
	fs.Var(storagesFlag{&c.Storages}, "storage", "a further named storage: name=N,data=FILE[,blob_dir=DIR][,read_only=true] (repeatable)")
	fs.Var(&c.TransactionTimeout, "transaction-timeout", "close a client holding the commit lock longer than this (0: never)")
	fs.IntVar(&c.InvalidationQueueSize, "invalidation-queue-size", c.InvalidationQueueSize, "transactions kept for getInvalidations")
	fs.Var(&c.MaxFrame, "max-frame", "largest message accepted")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "TLS certificate (PEM)")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "TLS private key (PEM)")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", c.TLSClientCA, "CA certificates (PEM) that client certificates must chain to (empty: no client authentication)")
	fs.BoolVar(&c.Msgpack, "msgpack", c.Msgpack, "announce the msgpack encoding (M5) instead of pickle (Z5)")
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
	if err := c.validateStorages(); err != nil {
		return err
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
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return sitefile.Errorf("tls_client_ca", "needs tls_cert and tls_key")
	}
	return nil
}

// validateStorages checks the named storages against each other and the
// default one.
func (c *Config) validateStorages() error {
	names, files := map[string]bool{c.Name: true}, map[string]bool{filepath.Clean(c.Data): true}
	blobDirs := map[string]bool{}
	if c.BlobDir != "" {
		blobDirs[filepath.Clean(c.BlobDir)] = true
	}
	for i, sc := range c.Storages {
		key := fmt.Sprintf("storages[%d]", i)
		switch {
		case sc.Name == "":
			return sitefile.Errorf(key+".name", "empty storage name")
		case names[sc.Name]:
			return sitefile.Errorf(key+".name", "storage %q is defined twice", sc.Name)
		case sc.Data == "":
			return sitefile.Errorf(key+".data", "empty storage file path")
		case files[filepath.Clean(sc.Data)]:
			return sitefile.Errorf(key+".data", "%s is already another storage's file", sc.Data)
		case sc.BlobDir != "" && blobDirs[filepath.Clean(sc.BlobDir)]:
			// Blob files are named by oid and tid only: two storages'
			// would overwrite each other's.
			return sitefile.Errorf(key+".blob_dir", "%s is already another storage's blob folder", sc.BlobDir)
		}
		names[sc.Name], files[filepath.Clean(sc.Data)] = true, true
		if sc.BlobDir != "" {
			blobDirs[filepath.Clean(sc.BlobDir)] = true
		}
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

// String is the effective configuration as logged at start and after a
// reload: every key, in the site file's names.
func (c Config) String() string { return sitefile.Effective(c) }

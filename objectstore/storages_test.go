package objectstore_test

import (
	"context"
	"errors"
	"flag"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/cairnstack/cairn/objectstore"
	zc "github.com/cairnstack/cairn/objectstore/client"
)

func TestStoragesFromSiteFileAndFlags(t *testing.T) {
	const site = `
[objectstore]
data = "var/main.db"

[[objectstore.storages]]
name = "catalog"
data = "var/catalog.db"
blob_dir = "var/catalog-blobs"

[[objectstore.storages]]
name = "archive"
data = "var/archive.db"
read_only = true
`
	cfg := objectstore.NewConfig()
	var s sitefile.Site
	if _, err := sitefile.Decode("site.toml", []byte(site), "objectstore", &s, cfg); err != nil {
		t.Fatal(err)
	}
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"-storage", "name=extra,data=var/extra.db,read_only=true"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(s); err != nil {
		t.Fatal(err)
	}
	want := []objectstore.StorageConfig{
		{Name: "catalog", Data: "var/catalog.db", BlobDir: "var/catalog-blobs"},
		{Name: "archive", Data: "var/archive.db", ReadOnly: true},
		{Name: "extra", Data: "var/extra.db", ReadOnly: true},
	}
	if len(cfg.Storages) != len(want) {
		t.Fatalf("storages %+v; want %+v", cfg.Storages, want)
	}
	for i := range want {
		if cfg.Storages[i] != want[i] {
			t.Errorf("storages[%d] = %+v; want %+v", i, cfg.Storages[i], want[i])
		}
	}
	if cfg.Name != "1" || cfg.Data != "var/main.db" {
		t.Errorf("default storage %q at %s; want \"1\" at var/main.db", cfg.Name, cfg.Data)
	}

	bad := map[string]string{
		"storages[0].name: storage \"1\" is defined twice": `[[objectstore.storages]]` + "\nname = \"1\"\ndata = \"x.db\"\n",
		"storages[0].name: empty storage name":             `[[objectstore.storages]]` + "\ndata = \"x.db\"\n",
		"storages[1].data: ./x.db is already":              `[[objectstore.storages]]` + "\nname = \"a\"\ndata = \"x.db\"\n" + `[[objectstore.storages]]` + "\nname = \"b\"\ndata = \"./x.db\"\n",
		"storages[0].blob_dir: var/blobs/ is already":      "[objectstore]\nblob_dir = \"var/blobs\"\n" + `[[objectstore.storages]]` + "\nname = \"a\"\ndata = \"a.db\"\nblob_dir = \"var/blobs/\"\n",
	}
	for want, doc := range bad {
		cfg := objectstore.NewConfig()
		if _, err := sitefile.Decode("site.toml", []byte(doc), "objectstore", &s, cfg); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(s); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v; want %q", err, want)
		}
	}
	fs = flag.NewFlagSet("x", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	objectstore.NewConfig().RegisterFlags(fs)
	if err := fs.Parse([]string{"-storage", "name=x,path=y"}); err == nil {
		t.Error("-storage with an unknown key accepted")
	}
}

// TestNamedStorages: one server, three storages; clients register by
// name and see only their storage's data and invalidations.
func TestNamedStorages(t *testing.T) {
	dir := t.TempDir()
	addr, srv := startServer(t, func(c *objectstore.Config) {
		c.Storages = []objectstore.StorageConfig{
			{Name: "catalog", Data: filepath.Join(dir, "catalog.db"), BlobDir: filepath.Join(dir, "catalog-blobs")},
			{Name: "archive", Data: filepath.Join(dir, "archive.db"), ReadOnly: true},
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	open := func(name string, readOnly bool, inv func(zc.Invalidation)) *zc.Client {
		t.Helper()
		c, err := zc.Dial(ctx, addr, zc.Options{Storage: name, ReadOnly: readOnly, OnInvalidate: inv})
		if err != nil {
			t.Fatalf("register %q: %v", name, err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	invs := make(chan string, 10)
	main, catalog := open("1", false, nil), open("catalog", false, nil)
	open("1", false, func(zc.Invalidation) { invs <- "1" })
	open("catalog", false, func(zc.Invalidation) { invs <- "catalog" })

	root := zc.OID{}
	store := func(c *zc.Client, data string) zc.TID {
		t.Helper()
		tx, err := c.Begin(ctx, zc.TxnMeta{})
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Abort(ctx)
		tx.Store(root, c.LastTID(), []byte(data))
		if _, err := tx.Vote(ctx); err != nil {
			t.Fatal(err)
		}
		tid, err := tx.Finish(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return tid
	}
	store(main, "main root")
	if got := <-invs; got != "1" {
		t.Errorf("a commit to storage 1 invalidated %q", got)
	}
	store(catalog, "catalog root")
	if got := <-invs; got != "catalog" {
		t.Errorf("a commit to catalog invalidated %q", got)
	}
	for c, want := range map[*zc.Client]string{main: "main root", catalog: "catalog root"} {
		if rev, err := c.Load(ctx, root); err != nil || string(rev.Data) != want {
			t.Errorf("Load = %q, %v; want %q", rev.Data, err, want)
		}
	}
	if info, err := catalog.Info(ctx); err != nil {
		t.Error(err)
	} else if name, _ := info.Get("name"); name != "catalog" {
		t.Errorf("get_info name = %v", name)
	}
	if _, err := zc.Dial(ctx, addr, zc.Options{Storage: "archive"}); !errors.Is(err, zc.ErrReadOnly) {
		t.Errorf("read-write register on the read-only archive = %v", err)
	}
	archive := open("archive", true, nil)
	if _, err := archive.Load(ctx, root); !errors.Is(err, zc.ErrNotFound) {
		t.Errorf("archive Load = %v; want ErrNotFound", err)
	}
	if _, err := zc.Dial(ctx, addr, zc.Options{Storage: "nosuch"}); err == nil {
		t.Error("unknown storage accepted")
	}
	if st, ok := srv.StatusOf("catalog"); !ok || st.Commits != 1 || st.Connections != 2 {
		t.Errorf("StatusOf(catalog) = %+v, %v", st, ok)
	}
	if srv.DB("archive") == nil || srv.DB("nosuch") != nil || srv.DB("") != srv.DB("1") {
		t.Error("DB by name")
	}
}

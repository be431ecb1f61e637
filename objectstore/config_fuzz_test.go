package objectstore

import (
	"os"
	"testing"

	"github.com/cairnstack/cairn/internal/sitefile"
)

// FuzzConfig runs a site file's [objectstore] section through decoding and
// validation: refused with an error naming where, or accepted with a
// listen address resolved, and logged without a panic.
func FuzzConfig(f *testing.F) {
	site, err := os.ReadFile("../site.toml")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(site)
	f.Add([]byte("[objectstore]\nlisten = \"unix:/tmp/zeo.sock\"\ndata = \"a.db\"\nmax_frame = \"3G\"\n" +
		"[[objectstore.storages]]\nname = \"temp\"\ndata = \"./a.db\"\nread_only = true\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		var site sitefile.Site
		cfg := NewConfig()
		doc, err := sitefile.Decode("site.toml", data, "objectstore", &site, cfg)
		if err != nil {
			return
		}
		if err := cfg.Validate(site); err != nil {
			if located := doc.Locate(err); located == nil || located.Error() == "" {
				t.Fatalf("validation error %v located as %v", err, located)
			}
			return
		}
		if net, addr := cfg.ListenAddr(); net == "" || addr == "" {
			t.Fatalf("accepted without a listen address: %q %q", net, addr)
		}
		_ = cfg.String()
	})
}

// FuzzStorageFlag checks the -storage flag's parser: a storage, or an
// error, and what it accepts is written back the same by String.
func FuzzStorageFlag(f *testing.F) {
	for _, s := range []string{"name=temp,data=/var/a.db,blob_dir=/var/blobs,read_only=true", "data=x", "name=a=b", ",", "read_only=2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		sc, err := parseStorage(v)
		if err != nil {
			return
		}
		back, err := parseStorage(sc.String())
		if err != nil || back != sc {
			t.Fatalf("%q read as %+v, written as %q, read back as %+v, %v", v, sc, sc.String(), back, err)
		}
	})
}

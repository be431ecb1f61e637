package origin

import "testing"

func TestPublicBase(t *testing.T) {
	for path, want := range map[string]string{
		"/VirtualHostBase/http/example.com:80/Plone/VirtualHostRoot/x":              "http://example.com",
		"/VirtualHostBase/https/example.com:8443/Plone/VirtualHostRoot/_vh_a/_vh_b": "https://example.com:8443/a/b",
		"/VirtualHostBase/http/127.0.0.1:8000/VirtualHostRoot/_vh_zmi-admin/manage": "http://127.0.0.1:8000/zmi-admin",
		"/plain/path": "/",
	} {
		if got := publicBase(path); got != want {
			t.Errorf("publicBase(%q) = %q; want %q", path, got, want)
		}
	}
}

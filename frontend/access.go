package frontend

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strings"

	"github.com/cairnstack/cairn/internal/sitefile"
	"github.com/tg123/go-htpasswd"
	"github.com/valyala/fasthttp"
	"golang.org/x/net/http/httpguts"
)

// Access control per route: allow and deny by client address, and HTTP
// basic authentication against an htpasswd file, as nginx's access and
// auth_basic modules do. The seed publishes the debug instance's ZMI
// (/zmi-admin/) and HAProxy's statistics through the front server; these
// are what keeps them to the office or to named users.
//
// Password hashes are checked by github.com/tg123/go-htpasswd; a bcrypt
// hash costs tens of milliseconds of CPU per request that carries it, as
// it does in nginx (crypt() per request).

// htpasswdSchemes are the hash schemes accepted in an htpasswd file. The
// library's plain-text fallback is left out: a hash it does not know
// would otherwise be taken as the password itself.
var htpasswdSchemes = []htpasswd.PasswdParser{
	htpasswd.AcceptBcrypt, htpasswd.AcceptMd5, htpasswd.AcceptSha, htpasswd.AcceptSsha, htpasswd.AcceptCryptSha,
}

// validateAccess parses allow and deny and reads the htpasswd file.
func (r *Route) validateAccess() error {
	var err error
	if r.allow, err = parsePrefixes("allow", r.Allow); err != nil {
		return err
	}
	if r.deny, err = parsePrefixes("deny", r.Deny); err != nil {
		return err
	}
	r.users = nil
	switch {
	case r.AuthBasic == "" && r.AuthBasicUserFile == "":
		return nil
	case r.AuthBasic == "" || r.AuthBasicUserFile == "":
		return sitefile.Errorf("auth_basic", "auth_basic and auth_basic_user_file go together")
	case strings.ContainsAny(r.AuthBasic, "\"\\") || !httpguts.ValidHeaderFieldValue(r.AuthBasic):
		return sitefile.Errorf("auth_basic", "the realm may not hold quotes, backslashes or control characters")
	}
	users, err := readHtpasswd(r.AuthBasicUserFile)
	if err != nil {
		return sitefile.Errorf("auth_basic_user_file", "%v", err)
	}
	r.users = users
	return nil
}

// readHtpasswd reads an htpasswd file, skipping comments. A line the
// library cannot read is an error naming the line, not the hash (which
// the start-up log would show).
func readHtpasswd(path string) (*htpasswd.File, error) {
	b, err := sitefile.ReadFile(path, sitefile.MaxSiteFile)
	if err != nil {
		return nil, err
	}
	var kept bytes.Buffer
	users := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		user, _, _ := bytes.Cut(line, []byte(":"))
		if users[string(user)] {
			// The library keeps the last line, nginx the first: neither
			// may be what the file's author thinks.
			return nil, fmt.Errorf("%s:%d: user %q again", path, n, user)
		}
		users[string(user)] = true
		var bad error
		if _, err := htpasswd.NewFromReader(bytes.NewReader(line), htpasswdSchemes, func(err error) { bad = err }); err != nil || bad != nil {
			return nil, fmt.Errorf("%s:%d: not user:hash in a known scheme (bcrypt, apr1, {SHA}, {SSHA}, $5$, $6$)", path, n)
		}
		kept.Write(line)
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return htpasswd.NewFromReader(&kept, htpasswdSchemes, nil)
}

// admitted checks a request against its route's allow, deny and
// auth_basic (a nil route, or one without them, admits all), and answers
// one refused: 403, or 401 with the challenge.
func (f *Frontend) admitted(ctx *fasthttp.RequestCtx, rt *router, r *route) bool {
	if r == nil {
		return true
	}
	if len(r.allow) > 0 || len(r.deny) > 0 {
		ip, _ := clientIP(ctx, peerAddr(ctx), rt.cfg.trusted)
		if !r.admits(ip) {
			f.logger.Info("access forbidden by rule", "client", ip.String(), "route", r.Name)
			f.errorPage(ctx, rt, fasthttp.StatusForbidden)
			return false
		}
	}
	if r.users != nil && ctx.UserValue(passedKey{}) != r {
		user, pass, ok := basicAuth(&ctx.Request.Header)
		if !ok || !r.users.Match(user, pass) {
			if ok {
				f.logger.Info("basic authentication failed", "user", user, "route", r.Name)
			}
			f.errorPage(ctx, rt, fasthttp.StatusUnauthorized)
			ctx.Response.Header.Set("WWW-Authenticate", `Basic realm="`+r.AuthBasic+`"`)
			return false
		}
		// An upload announced with Expect: 100-continue is admitted twice,
		// before its body and after: the password is checked once (a
		// bcrypt hash costs tens of milliseconds). fasthttp drops the
		// request's values once it is answered.
		ctx.SetUserValue(passedKey{}, r)
	}
	return true
}

// passedKey marks, among a request's user values, the route whose
// password the request has passed. A route of a configuration a reload has
// replaced since is another *route, and asks again.
type passedKey struct{}

// admits applies deny, then allow, to a client address.
func (r *route) admits(ip netip.Addr) bool {
	for _, p := range r.deny {
		if p.Contains(ip) {
			return false
		}
	}
	if len(r.allow) == 0 {
		return true
	}
	for _, p := range r.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

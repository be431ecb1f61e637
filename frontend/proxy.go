package frontend

import (
	"bytes"
	"errors"
	"iter"
	"log/slog"
	"math/bits"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/sys/unix"
)

// pool is an upstream: one keep-alive connection pool per address, chosen
// round-robin. An address that fails to connect is skipped for this
// request (no byte reached it, so trying the next is safe), and left out
// for failTimeout while another address is up.
type pool struct {
	name        string
	clients     []*fasthttp.HostClient
	down        []atomic.Int64 // per address: until when it is left out (Unix nanoseconds)
	failTimeout time.Duration
	next        atomic.Uint32
	latency     prometheus.Observer
	errs        *prometheus.CounterVec
	logger      *slog.Logger

	// For the event loops (lane.go): the addresses resolved once, at
	// load (nil: not resolved, the fasthttp path's then), and the
	// upstream's timeouts.
	sockaddrs                               []unix.Sockaddr
	connectTimeout, readTimeout, idleTimout time.Duration
	writeTimeout                            time.Duration
}

func newPool(name string, u Upstream, m *metrics, sp *spooling, logger *slog.Logger) *pool {
	p := &pool{name: name, latency: m.upstreamLatency.WithLabelValues(name), errs: m.upstreamErrors,
		down: make([]atomic.Int64, len(u.Addrs)), failTimeout: u.FailTimeout.D(), logger: logger}
	// A body the upstream cuts short is counted and logged as it ends,
	// after the response has started (transport.go).
	cut := func(addr string, got int64, err error) {
		p.errs.WithLabelValues(name, errorKind(err)).Inc()
		logger.Warn("upstream cut a body short", "upstream", name, "addr", addr, "bytes", got, "err", err)
	}
	connect, read, write := u.ConnectTimeout.D(), u.ReadTimeout.D(), u.WriteTimeout.D()
	p.connectTimeout, p.readTimeout, p.writeTimeout, p.idleTimout = connect, read, write, u.IdleTimeout.D()
	for _, addr := range u.Addrs {
		p.sockaddrs = append(p.sockaddrs, resolveSockaddr(addr))
		p.clients = append(p.clients, &fasthttp.HostClient{
			Addr:                          addr,
			Name:                          "",
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			MaxConns:                      u.MaxConns,
			MaxIdleConnDuration:           u.IdleTimeout.D(),
			// An answer's head is read through this buffer, and with it
			// as much of the body as has come: with fasthttp's 4 KiB a
			// 20 KB page took more reads and 9 % more CPU per request
			// (interleaved A/B runs); buffers are pooled per exchange,
			// not per connection.
			ReadBufferSize:     32 << 10,
			ReadTimeout:        read,
			WriteTimeout:       write,
			MaxConnWaitTimeout: connect,
			// An upstream's malformed head is not quoted in the log: it
			// may hold a Set-Cookie with a session (Plone's __ac).
			SecureErrorLogMessage: true,
			Transport:             transport{spool: sp, cut: func(got int64, err error) { cut(addr, got, err) }},
			Dial: func(addr string) (net.Conn, error) {
				c, err := fasthttp.DialTimeout(addr, connect)
				if err != nil {
					return nil, err
				}
				return newCoarseConn(newSockConn(c, write, 0), read), nil
			},
		})
	}
	return p
}

// do sends req, with body, and reads the answer into resp, trying the
// next address when one refuses the connection. start is when the request
// arrived: the latency observed includes the microseconds of routing
// before do, and saves reading the clock again.
//
// fasthttp's HostClient sends an idempotent request again when the pooled
// connection it went out on turns out closed by the upstream (staleConn),
// but not one whose body is a stream: a body in a temporary file is sent
// again here, from its start, as often as fasthttp would.
func (p *pool) do(req *fasthttp.Request, resp *fasthttp.Response, body spooled, start time.Time) error {
	n := len(p.clients)
	first := int(p.next.Add(1)) % n
	skip := p.downAddrs(n)
	var err error
	for i, retries := 0, 0; i < n; {
		a := (first + i) % n
		if skip != 0 && skip&(1<<a) != 0 {
			i++
			continue
		}
		var d *os.File
		if d, err = body.attach(req); err != nil {
			return err // the frontend's own temporary file: not the upstream's fault
		}
		err = p.clients[a].Do(req, resp)
		if d != nil {
			d.Close() // if fasthttp did not (the request never went out)
		}
		switch {
		case err == nil:
		case isDialError(err):
			p.dialFailed(a, err)
			i++
			continue
		case body.file != nil && retries < fasthttp.DefaultMaxIdemponentCallAttempts-1 && idempotent(&req.Header) && errors.As(err, new(staleConn)):
			retries++
			continue
		}
		break
	}
	p.latency.Observe(time.Since(start).Seconds())
	if err != nil && !isDialError(err) {
		p.errs.WithLabelValues(p.name, errorKind(err)).Inc()
	}
	return err
}

// dialFailed counts a failed connection to address a and leaves the
// address out for fail_timeout. Counted each time (the end of a request
// counts other errors only): while another address answers, an instance
// down would otherwise go unseen.
func (p *pool) dialFailed(a int, err error) {
	p.errs.WithLabelValues(p.name, errorKind(err)).Inc()
	if len(p.clients) > 1 {
		now := time.Now()
		// Logged when the address goes down, not on every try:
		// with all of them down every request tries each.
		if was := p.down[a].Swap(now.Add(p.failTimeout).UnixNano()); was <= now.UnixNano() {
			p.logger.Warn("upstream address down, left out for fail_timeout while another is up", "upstream", p.name,
				"addr", p.clients[a].Addr, "fail_timeout", p.failTimeout, "err", err)
		}
	}
}

// resolveSockaddr is addr's socket address for the event loops; nil when
// it does not resolve now.
func resolveSockaddr(addr string) unix.Sockaddr {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil
	}
	if ip4 := ta.IP.To4(); ip4 != nil {
		return &unix.SockaddrInet4{Port: ta.Port, Addr: [4]byte(ip4)}
	}
	if len(ta.IP) == net.IPv6len {
		return &unix.SockaddrInet6{Port: ta.Port, Addr: [16]byte(ta.IP)}
	}
	return nil
}

// downAddrs is the set of addresses (bits, the first 64) to leave out of
// this request: those that failed to connect within failTimeout, unless
// that is all of them. A single address is never left out.
func (p *pool) downAddrs(n int) uint64 {
	if n == 1 {
		return 0
	}
	var set uint64
	now := int64(0)
	for a := range min(n, 64) {
		until := p.down[a].Load()
		if until == 0 {
			continue
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		if until > now {
			set |= 1 << a
		} else {
			p.down[a].CompareAndSwap(until, 0) // back: no clock reading for it
		}
	}
	if bits.OnesCount64(set) >= n {
		return 0
	}
	return set
}

// idempotent is fasthttp's rule for sending a request again.
func idempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsPut() || string(h.Method()) == "QUERY"
}

func (p *pool) close() {
	for _, c := range p.clients {
		c.CloseIdleConnections()
	}
}

// isDialError reports whether err happened before any byte was sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial" || errors.Is(err, fasthttp.ErrDialTimeout)
}

// logged is what the access log and the metrics need of a request that
// forwarding in place changed: the client address, computed once, the
// request URI as the client sent it, and the size of the body read (only
// a proxied request's body is read; others are drained or the connection
// closed). Zero values mean "read it from the request".
type logged struct {
	client netip.Addr
	uri    []byte
	bodyIn int64
	// noHead: the request's head was not read (fasthttp's request then
	// holds defaults, GET / HTTP/1.1, which the log must not show).
	noHead bool
}

// proxy forwards the request to the route's upstream. The client's request
// itself is sent, rewritten in place (copying it was one of the largest of
// Cairn's own costs per request); what the access log needs of the
// original is returned, the request URI appended to uri.
func (f *Frontend) proxy(ctx *fasthttp.RequestCtx, rt *router, r *route, groups []string, path, scheme string, start time.Time, uri []byte) logged {
	peer := peerAddr(ctx)
	req := &ctx.Request
	// Before the fields are rewritten below: the address access control
	// and the log go by (clientIP reads every spelling and line).
	real, fromTrusted := clientIP(ctx, peer, rt.cfg.trusted)
	var hf hopFields
	hf.scanRequest(&req.Header)
	if fromTrusted {
		// A trusted proxy's fields count in any spelling (HAProxy sends
		// them in lower case), as one X-Forwarded-For chain.
		hf.canonicalForwarding(&req.Header)
	}
	lg := logged{client: real, uri: append(uri, ctx.RequestURI()...)}
	if hf.invalidName {
		// A name with a space ("Content Length") is not a field an
		// upstream reads alike: nginx answers 400 too.
		f.refuse(ctx, "invalid header field name\n", fasthttp.StatusBadRequest)
		return lg
	}
	if hf.underscore {
		dropUnderscored(&req.Header)
	}
	body, err := takeBody(&ctx.Request, rt.cfg, rt.bodyRoom)
	lg.bodyIn = body.size // what was read of it, if refused
	if err != nil {
		f.bodyError(ctx, err)
		return lg
	}
	defer body.close()
	if hf.namesOthers(&req.Header) || len(ctx.URI().Username()) > 0 {
		// Removing the fields Connection names, or fasthttp turning the
		// URI's user into Authorization, would change what is read from
		// the request after the exchange: send a copy instead.
		req = fasthttp.AcquireRequest()
		defer fasthttp.ReleaseRequest(req)
		ctx.Request.CopyTo(req)
	}
	hf.removeFrom(&req.Header)
	// A body goes with the Content-Type the client gave it, or none:
	// fasthttp would add application/octet-stream.
	req.Header.SetNoDefaultContentType(true)
	setForwarded(&req.Header, &hf, peer, real, fromTrusted, scheme)
	rewriteURI(ctx, req, r, groups, path, scheme)
	req.URI().SetScheme("http") // the inbound scheme may be https; upstreams speak plain HTTP
	if len(req.Header.Host()) == 0 {
		// An HTTP/1.0 request may come without one; Zope's virtual hosting
		// and the servers in front of it read it. Set on the URI:
		// Request.Write takes the Host field from the URI it parsed, and
		// would send an empty one.
		req.URI().SetHost(r.pool.clients[0].Addr)
	}
	if err := r.pool.do(req, &ctx.Response, body, start); err != nil {
		ctx.Response.Reset()
		if errors.As(err, new(spoolError)) {
			f.logger.Error("request body", "path", path, "err", err)
			f.errorPage(ctx, rt, fasthttp.StatusInternalServerError)
			return lg
		}
		status := statusFor(err)
		f.logger.Warn("upstream failed", "upstream", r.pool.name, "path", path, "status", status, "err", err)
		f.errorPage(ctx, rt, status)
		return lg
	}
	adaptResponse(&ctx.Response)
	return lg
}

// adaptResponse makes an upstream's answer the frontend's: without the
// upstream's hop-by-hop fields, with the frontend's name and version.
func adaptResponse(resp *fasthttp.Response) {
	var rf hopFields
	rf.scanResponse(&resp.Header)
	rf.removeFromResponse(&resp.Header)
	resp.Header.ResetConnectionClose()
	// The frontend's own name, as nginx sends its own: "waitress" (or a
	// version of it) tells a client what runs behind.
	resp.Header.SetServer(serverName)
	if !resp.Header.IsHTTP11() {
		// The frontend speaks HTTP/1.1 to its clients whatever the
		// upstream spoke (RFC 9110 §6.2), and frames the body by it. (The
		// status line only: fasthttp's HTTP/1.0 flag stays, which bears
		// on trailers alone, and an upstream's are dropped anyway.)
		resp.Header.SetProtocol(http11)
	}
}

var http11 = []byte("HTTP/1.1")

// dropUnderscored removes the request's fields whose names have an
// underscore, as nginx does by default (underscores_in_headers off): a WSGI
// server files "X_Forwarded_For" and "X-Forwarded-For" under the same
// HTTP_X_FORWARDED_FOR, so a client could forge through one what the
// frontend sets in the other.
func dropUnderscored(h *fasthttp.RequestHeader) {
	dropAll(h.All(), h.DelBytes, func(k []byte) bool { return bytes.IndexByte(k, '_') >= 0 })
}

// rewriteURI gives req the route's upstream path, rewritten or VHM'd; a
// route with neither forwards the request URI as the client sent it.
func rewriteURI(ctx *fasthttp.RequestCtx, req *fasthttp.Request, r *route, groups []string, path, scheme string) {
	if r.Rewrite == "" && r.vhm == nil {
		return
	}
	p := path
	if r.Rewrite != "" {
		p = r.expand(r.Rewrite, groups, ctx, false)
	}
	var buf [512]byte
	line := buf[:0]
	if r.vhm == nil {
		line = appendEscapedPath(line, p)
	} else {
		host, port := publicHost(ctx, scheme)
		line = r.vhm.appendPath(line, scheme, host, port, p)
		if req == &ctx.Request && originForm(&req.Header) {
			// Only the path changes. Setting it on the URI fasthttp parsed
			// from this request keeps its query, host and scheme, which
			// parsing the new request line again (what SetRequestURI
			// leads to) would give the same, at twice the cost. The URI
			// is written from PathOriginal and the raw query, as
			// HostClient sets DisablePathNormalizing and nothing on the
			// way here parses the query arguments.
			req.URI().SetPathBytes(line)
			return
		}
	}
	if q := ctx.URI().QueryString(); len(q) > 0 {
		line = append(append(line, '?'), q...)
	}
	req.SetRequestURIBytes(line)
}

// originForm reports whether a request's URI is a path ("/x", RFC 9112
// §3.2.1) and its host came from a Host header: fasthttp parses it then
// as it parses a path set on the request.
func originForm(h *fasthttp.RequestHeader) bool {
	uri := h.RequestURI()
	return len(h.Host()) > 0 && len(uri) > 0 && uri[0] == '/' && (len(uri) == 1 || uri[1] != '/')
}

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (and the
// pre-standard Proxy-Connection), removed in both directions; headers named
// in Connection are removed too.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// hopFields is what one pass over a header finds of its hop-by-hop
// fields (a Del per known name scanned the header nine times per direction
// per request). Names are kept as the header spells them, because header
// names are not normalized and deleting compares them exactly; they are
// copied, because deleting fields moves the header's own bytes.
type hopFields struct {
	n       int
	names   [16][len("Proxy-Authorization")]byte // the longest hop-by-hop name
	lens    [16]uint8
	hopMore bool // more spellings than names holds: removal rescans

	// fwd holds the spellings, in any case, of the forwarding fields the
	// frontend sets itself (X-Forwarded-For, -Proto, -Host, X-Real-IP):
	// header names are not normalized and deleting compares exactly, so a
	// client's "x-forwarded-host" would otherwise pass as it is.
	fwd     [8][len("X-Forwarded-Proto")]byte
	fwdLens [8]uint8
	fwdN    int
	fwdMore bool // more spellings than fwd holds: removeForwarding rescans

	invalidName bool // a field name that is not a token (a request is refused, a response's field dropped)
	underscore  bool // a request field name with an underscore (dropUnderscored)

	// conn holds the Connection fields' values, of every line and
	// spelling, as one list (connLen bytes of it); connMore: they did not
	// fit, and connection() reads them again.
	conn     [128]byte
	connLen  int
	connMore bool
}

// addConnection records the value of a Connection field.
func (hf *hopFields) addConnection(v []byte) {
	sep := 0
	if hf.connLen > 0 {
		sep = 2
	}
	if hf.connMore || hf.connLen+sep+len(v) > len(hf.conn) {
		hf.connMore = true
		return
	}
	hf.connLen += copy(hf.conn[hf.connLen:], ", "[:sep])
	hf.connLen += copy(hf.conn[hf.connLen:], v)
}

// connection returns the Connection fields' values as one list; fields
// is the header scanned, for the rare list too long to have been kept.
func (hf *hopFields) connection(fields iter.Seq2[[]byte, []byte]) []byte {
	if hf.connMore {
		return appendFieldFold(nil, fields, "Connection")
	}
	return hf.conn[:hf.connLen]
}

// forwardingNames are the fields setForwarded sets, canonically spelled.
var forwardingNames = [...]string{"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-IP"}

// forwardingName returns the canonical spelling of k when k is one of
// forwardingNames in any case, else "".
func forwardingName(k []byte) string {
	for _, n := range forwardingNames {
		if len(k) == len(n) && bytes.EqualFold(k, []byte(n)) {
			return n
		}
	}
	return ""
}

// addForwarding records one spelling of a forwarding field.
func (hf *hopFields) addForwarding(name []byte) {
	for i := range hf.fwdN {
		if bytes.Equal(hf.fwd[i][:hf.fwdLens[i]], name) {
			return
		}
	}
	if hf.fwdN == len(hf.fwd) {
		hf.fwdMore = true
		return
	}
	hf.fwdLens[hf.fwdN] = uint8(copy(hf.fwd[hf.fwdN][:], name))
	hf.fwdN++
}

// removeForwarding deletes every forwarding field the client sent, in
// every spelling.
func (hf *hopFields) removeForwarding(h *fasthttp.RequestHeader) {
	for i := range hf.fwdN {
		h.DelBytes(hf.fwd[i][:hf.fwdLens[i]])
	}
	if hf.fwdMore { // a hostile client's many spellings: rare, so allocating is fine
		dropAll(h.All(), h.DelBytes, func(k []byte) bool { return forwardingName(k) != "" })
		hf.fwdMore = false
	}
}

// canonicalForwarding renames the forwarding fields a trusted proxy sent
// in another spelling to the canonical one, values kept, so that
// setForwarded finds and extends them.
func (hf *hopFields) canonicalForwarding(h *fasthttp.RequestHeader) {
	if hf.fwdMore {
		hf.removeForwarding(h) // a trusted proxy does not send that many
		return
	}
	for i := range hf.fwdN {
		k := hf.fwd[i][:hf.fwdLens[i]]
		n := forwardingName(k)
		if string(k) == n {
			continue
		}
		for _, v := range h.PeekAll(string(k)) {
			h.Add(n, string(v))
		}
		h.DelBytes(k)
	}
	// Several X-Forwarded-For lines are one list (RFC 9110 §5.3).
	if prior := h.PeekAll("X-Forwarded-For"); len(prior) > 1 {
		v := string(bytes.Join(prior, []byte(", ")))
		h.Del("X-Forwarded-For")
		h.Set("X-Forwarded-For", v)
	}
}

// add records a hop-by-hop field name, once per spelling; past 16
// spellings removal rescans the header (hopMore).
func (hf *hopFields) add(name []byte) {
	for i := range hf.n {
		if bytes.Equal(hf.names[i][:hf.lens[i]], name) {
			return
		}
	}
	if hf.n == len(hf.names) {
		hf.hopMore = true
		return
	}
	hf.lens[hf.n] = uint8(copy(hf.names[hf.n][:], name))
	hf.n++
}

// isExpect reports whether k is Expect, in any spelling.
func isExpect(k []byte) bool {
	return len(k) == len("Expect") && bytes.EqualFold(k, []byte("Expect"))
}

// dropAll deletes the fields for which drop is true, collecting their
// names first (deleting moves the header's bytes); it allocates, so it is
// for rare headers: more hop-by-hop spellings than a hopFields keeps,
// names with an underscore or that are not tokens.
func dropAll(fields iter.Seq2[[]byte, []byte], del func([]byte), drop func([]byte) bool) {
	var names [][]byte
	for k := range fields {
		if drop(k) {
			names = append(names, bytes.Clone(k))
		}
	}
	for _, k := range names {
		del(k)
	}
}

// scanRequest records the hop-by-hop fields of a request header (and
// Expect, which the frontend has answered itself: the body goes upstream
// whole), the spellings of its forwarding fields, and names that are not
// tokens or have an underscore, in one pass.
func (hf *hopFields) scanRequest(h *fasthttp.RequestHeader) {
	for k, v := range h.All() {
		hf.checkName(k)
		switch {
		case isHopHeader(k):
			hf.add(k)
			hf.noteConnection(k, v)
		case isExpect(k):
			hf.add(k)
		case len(k) >= len("X-Real-IP") && len(k) <= len("X-Forwarded-Proto") && (k[0] == 'X' || k[0] == 'x') && forwardingName(k) != "":
			hf.addForwarding(k)
		}
	}
}

// scanResponse records the hop-by-hop fields of a response header, and
// names that are not tokens, which are dropped too (nginx refuses such an
// answer with 502; it is no field a client would read alike).
func (hf *hopFields) scanResponse(h *fasthttp.ResponseHeader) {
	for k, v := range h.All() {
		if hf.checkName(k); isHopHeader(k) {
			hf.add(k)
			hf.noteConnection(k, v)
		}
	}
	if hf.invalidName {
		dropAll(h.All(), h.DelBytes, func(k []byte) bool { return !isToken(k) })
	}
}

// noteConnection records v when k, a hop-by-hop name, is Connection.
func (hf *hopFields) noteConnection(k, v []byte) {
	if len(k) == len("Connection") && bytes.EqualFold(k, []byte("Connection")) {
		hf.addConnection(v)
	}
}

// checkName notes a field name that is not a token (RFC 9110 §5.1), or
// has an underscore.
func (hf *hopFields) checkName(k []byte) {
	for _, c := range k {
		if !tokenByte[c] {
			hf.invalidName = true
		} else if c == '_' {
			hf.underscore = true
		}
	}
}

// tokenByte is RFC 9110's tchar.
var tokenByte = func() (t [256]bool) {
	for c := range 256 {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!#$%&'*+-.^_`|~", byte(c)) >= 0
	}
	return t
}()

// isToken reports whether k is a non-empty token.
func isToken(k []byte) bool {
	for _, c := range k {
		if !tokenByte[c] {
			return false
		}
	}
	return len(k) > 0
}

// removeFrom deletes from a request header the hop-by-hop fields found,
// first those named in Connection (in any of its lines and spellings). h
// is the header scanned, or a copy. removeFrom and removeFromResponse are
// one loop written twice: through an interface, or a type parameter, the
// hopFields escapes and is allocated each time.
func (hf *hopFields) removeFrom(h *fasthttp.RequestHeader) {
	if hf.n == 0 {
		return
	}
	for list := hf.connection(h.All()); len(list) > 0; {
		var f []byte
		if f, list = nextListItem(list); hf.removable(f) {
			delFold(h, string(f))
		}
	}
	for i := range hf.n {
		h.DelBytes(hf.names[i][:hf.lens[i]])
	}
	if hf.hopMore {
		dropAll(h.All(), h.DelBytes, func(k []byte) bool { return isHopHeader(k) || isExpect(k) })
	}
}

// removeFromResponse is removeFrom for a response header.
func (hf *hopFields) removeFromResponse(h *fasthttp.ResponseHeader) {
	if hf.n == 0 {
		return
	}
	for list := hf.connection(h.All()); len(list) > 0; {
		var f []byte
		if f, list = nextListItem(list); hf.removable(f) {
			delFold(h, string(f))
		}
	}
	for i := range hf.n {
		h.DelBytes(hf.names[i][:hf.lens[i]])
	}
	if hf.hopMore {
		dropAll(h.All(), h.DelBytes, isHopHeader)
	}
}

// removable reports whether a name from Connection is a field to remove:
// not one of its options (close, keep-alive), nor a field the message
// cannot lose — its length (a streamed answer would go without one, and
// be cut to nothing) or its Host; Connection lists options, not these
// (RFC 9110 §7.6.1).
func (*hopFields) removable(f []byte) bool {
	for _, n := range [...]string{"close", "keep-alive", "Content-Length", "Host"} {
		if len(f) == len(n) && strings.EqualFold(string(f), n) {
			return false
		}
	}
	return len(f) > 0
}

// namesOthers reports whether the request's Connection field names a
// field it removes other than the hop-by-hop ones (removable). Removing those from
// the client's request would change what the access log and compression
// read from it after the exchange, so such a request is forwarded as a
// copy.
func (hf *hopFields) namesOthers(h *fasthttp.RequestHeader) bool {
	if hf.n == 0 {
		return false
	}
	for list := hf.connection(h.All()); len(list) > 0; {
		var f []byte
		if f, list = nextListItem(list); hf.removable(f) && !isHopHeader(f) {
			return true
		}
	}
	return false
}

// nextListItem splits the first item off a comma-separated field value
// (a Connection list): the item, trimmed (possibly empty), and the rest.
// A loop, not an iterator: yielding the names of a hopFields' own array
// made the hopFields escape to the heap, two per request.
func nextListItem(list []byte) (item, rest []byte) {
	if i := bytes.IndexByte(list, ','); i >= 0 {
		item, rest = list[:i], list[i+1:]
	} else {
		item = list
	}
	return bytes.TrimSpace(item), rest
}

// isHopHeader reports whether k names a hop-by-hop field. It runs for
// every field of every request and response, so the lengths of the names
// in hopHeaders (TestHopHeaderLengths) turn most fields away at once.
func isHopHeader(k []byte) bool {
	switch len(k) {
	case 2, 7, 10, 16, 17, 18, 19:
	default:
		return false
	}
	for _, h := range hopHeaders {
		if len(h) == len(k) && strings.EqualFold(h, string(k)) {
			return true
		}
	}
	return false
}

// clientIP is the address the request came from: the peer, or, when the
// peer is a trusted proxy, the last untrusted address in X-Forwarded-For
// (as nginx's real_ip_recursive does). Every line of the field counts, in
// any spelling, as one list: header names are not normalized, and a
// trusted proxy may add its own line (HAProxy's option forwardfor) after
// one the client forged, or spell it in lower case.
func clientIP(ctx *fasthttp.RequestCtx, peer netip.Addr, trusted []netip.Prefix) (ip netip.Addr, fromTrusted bool) {
	ip = peer
	if !isTrusted(ip, trusted) {
		return ip, false
	}
	var buf [256]byte
	xff := appendFieldFold(buf[:0], ctx.Request.Header.All(), "X-Forwarded-For")
	for len(xff) > 0 {
		i := bytes.LastIndexByte(xff, ',')
		a, err := netip.ParseAddr(string(bytes.TrimSpace(xff[i+1:])))
		if err != nil {
			break
		}
		ip = a.Unmap()
		if !isTrusted(ip, trusted) {
			break
		}
		if i < 0 {
			break
		}
		xff = xff[:i]
	}
	return ip, true
}

// appendFieldFold appends the values of every field named name, in any
// spelling, in order, joined with ", " (one list, RFC 9110 §5.3).
func appendFieldFold(dst []byte, fields iter.Seq2[[]byte, []byte], name string) []byte {
	first := true
	for k, v := range fields {
		if len(k) == len(name) && strings.EqualFold(string(k), name) {
			if !first {
				dst = append(dst, ", "...)
			}
			dst, first = append(dst, v...), false
		}
	}
	return dst
}

func peerAddr(ctx *fasthttp.RequestCtx) netip.Addr {
	if ta, ok := ctx.RemoteAddr().(*net.TCPAddr); ok {
		if a, ok := netip.AddrFromSlice(ta.IP); ok {
			return a.Unmap()
		}
	}
	return netip.IPv4Unspecified()
}

func isTrusted(ip netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

// setForwarded strips client-sent forwarding headers unless the peer is a
// trusted proxy, then sets them explicitly (strip first, then set:
// style.md §12.7). Host is preserved as the client sent it. real is the
// client's address (clientIP), hf what the scan of h found.
//
// SetCanonical is Set without checking the name, which is a constant here
// and, with header names not normalized, already what Set would use; it
// saves a third of the cost of each field.
func setForwarded(h *fasthttp.RequestHeader, hf *hopFields, peer, real netip.Addr, fromTrusted bool, scheme string) {
	var buf [64]byte
	addr := real.AppendTo(buf[:0])
	if fromTrusted { // the fields are canonical already (canonicalForwarding)
		p := peer.String()
		if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
			h.Set("X-Forwarded-For", string(prior)+", "+p)
		} else {
			h.Set("X-Forwarded-For", p)
		}
		if len(h.Peek("X-Forwarded-Proto")) == 0 {
			h.Set("X-Forwarded-Proto", scheme)
		}
		h.SetCanonical([]byte("X-Real-IP"), addr)
		return
	}
	// From an untrusted peer the client is the peer itself, and nothing it
	// says about forwarding is passed on, in any spelling.
	hf.removeForwarding(h)
	h.SetCanonical([]byte("X-Forwarded-For"), addr)
	h.SetCanonical([]byte("X-Forwarded-Proto"), []byte(scheme))
	h.SetCanonical([]byte("X-Real-IP"), addr)
}

// publicHostPort is the host and port the client used, for VHM and
// redirects: from the Host header, else the listener's address.
func publicHostPort(ctx *fasthttp.RequestCtx, scheme string) (string, int) {
	host := string(ctx.Host())
	if host == "" {
		host = ctx.LocalAddr().String()
	}
	if h, p, err := net.SplitHostPort(host); err == nil {
		if port, err := strconv.Atoi(p); err == nil {
			return h, port
		}
		return h, defaultPort(scheme)
	}
	return host, defaultPort(scheme)
}

// publicHost is publicHostPort for the VHM rewrite, without allocating
// for the usual Host header: a name or IPv4 address with an optional
// numeric port. Anything else takes publicHostPort's way.
func publicHost(ctx *fasthttp.RequestCtx, scheme string) ([]byte, int) {
	if name, port, ok := simpleHostPort(ctx.Host(), scheme); ok {
		return name, port
	}
	host, port := publicHostPort(ctx, scheme)
	return []byte(host), port
}

// simpleHostPort splits a Host value that is a name or IPv4 address with an
// optional numeric port; ok is false for any other.
func simpleHostPort(h []byte, scheme string) (name []byte, port int, ok bool) {
	i := bytes.IndexByte(h, ':')
	name, digits := h, []byte(nil)
	if i >= 0 {
		name, digits = h[:i], h[i+1:]
	}
	simple := len(h) > 0 && len(digits) <= 9
	for _, c := range name {
		simple = simple && isNameByte(c)
	}
	for _, c := range digits {
		simple = simple && '0' <= c && c <= '9'
		port = port*10 + int(c-'0')
	}
	switch {
	case !simple:
		return nil, 0, false
	case len(digits) == 0:
		return name, defaultPort(scheme), true // net.SplitHostPort's "missing port", or an empty one
	}
	return name, port, true
}

func defaultPort(scheme string) int {
	if scheme == "https" {
		return 443
	}
	return 80
}

// validHost accepts the bytes of a DNS name, an IPv4 address or a bracketed
// IPv6 address, with an optional port; an empty Host (HTTP/1.0) is allowed.
func validHost(h []byte) bool {
	for _, c := range h {
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case c == '.', c == '-', c == '_', c == ':', c == '[', c == ']':
		default:
			return false
		}
	}
	return true
}

package frontend

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
	"golang.org/x/sync/errgroup"

	"github.com/cairnstack/cairn/internal/listener"
)

// Frontend is the front web server. It is safe for concurrent use; Reload
// may be called while it serves.
type Frontend struct {
	logger    *slog.Logger
	m         *metrics
	listeners []Listener // fixed at New: changing them needs a restart
	certs     []*certStore

	state   atomic.Pointer[router]
	access  atomic.Pointer[accessLog]
	servers atomic.Pointer[[]*fasthttp.Server]
	lane    atomic.Pointer[lane] // nil without event loops
	serving atomic.Bool
	// lingering counts connections closing lingering (reqbody.go), which
	// fasthttp no longer counts against max_conns once it handed them over.
	lingering atomic.Int32

	closeOnce sync.Once
}

// New builds a Frontend from a validated configuration. It opens the access
// log and static folders but no sockets. A nil logger discards; a nil
// registerer registers nothing.
func New(cfg *Config, logger *slog.Logger, reg prometheus.Registerer) (*Frontend, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	f := &Frontend{logger: logger, listeners: append([]Listener(nil), cfg.Listeners...)}
	f.m = newMetrics(reg, f.openConns)
	for _, l := range cfg.Listeners {
		cs := &certStore{}
		if l.TLS() {
			c, err := loadCert(l.TLSCert, l.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("frontend: listener %s: %w", l.Addr, err)
			}
			cs.cert.Store(c)
		}
		f.certs = append(f.certs, cs)
	}
	rt, err := newRouter(cfg, f.m, f.logger)
	if err != nil {
		return nil, fmt.Errorf("frontend: %w", err)
	}
	al, err := openAccessLog(cfg.AccessLog)
	if err != nil {
		rt.close()
		return nil, fmt.Errorf("frontend: %w", err)
	}
	f.state.Store(rt)
	f.access.Store(al)
	return f, nil
}

func (f *Frontend) cfg() *Config { return f.state.Load().cfg }

// acquire is the router of the moment, counted as used until release: a
// reload closes the router it replaced (its static folders, file cache and
// idle upstream connections) only once no request uses it. Counted first
// and checked after, so that a router the reload has just swapped out is
// never used after its count was seen at zero.
func (f *Frontend) acquire() *router {
	for {
		rt := f.state.Load()
		rt.users.Add(1)
		if f.state.Load() == rt {
			return rt
		}
		rt.users.Add(-1)
	}
}

func (rt *router) release() { rt.users.Add(-1) }

// retire closes a router a reload replaced, once no request uses it (a
// request's time is bounded by the timeouts; the check is once a second).
func (f *Frontend) retire(rt *router) {
	go func() {
		for rt.users.Load() > 0 {
			time.Sleep(time.Second)
		}
		rt.close()
	}()
}

// Listen opens the configured listeners, in order.
func (f *Frontend) Listen() ([]net.Listener, error) {
	var lns []net.Listener
	for _, l := range f.listeners {
		ln, err := net.Listen("tcp", l.Addr)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return nil, fmt.Errorf("frontend: %w", err)
		}
		lns = append(lns, ln)
	}
	return lns, nil
}

// Serve serves lns (one per configured listener, in order; TLS is added
// here for TLS listeners) until ctx is cancelled, then stops accepting,
// lets in-flight requests finish within the grace period, and returns.
func (f *Frontend) Serve(ctx context.Context, lns []net.Listener) error {
	if len(lns) != len(f.listeners) {
		return fmt.Errorf("frontend: %d listeners given, %d configured", len(lns), len(f.listeners))
	}
	servers := make([]*fasthttp.Server, len(lns))
	laneLns := map[int]net.Listener{}
	given := make([]*givenListener, len(lns))
	for i := range lns {
		servers[i] = f.newServer(i)
		if l := f.listeners[i]; f.cfg().EventLoop && !l.TLS() && !l.RedirectHTTPS {
			// The loops accept; the server serves what they give it.
			laneLns[i] = lns[i]
			given[i] = newGivenListener(lns[i].Addr())
			lns[i] = given[i]
			continue
		}
		patient := &listener.Patient{Listener: lns[i], Logger: f.logger}
		lns[i] = sockListener{patient, f.cfg().WriteTimeout.D(), f.cfg().ReadTimeout.D()}
		if f.listeners[i].TLS() {
			lns[i] = tls.NewListener(lns[i], f.certs[i].tlsConfig())
		}
	}
	f.servers.Store(&servers)
	var ln *lane
	if len(laneLns) > 0 {
		var err error
		if ln, err = newLane(f, laneLns, given, servers); err != nil {
			return fmt.Errorf("frontend: event loop: %w", err)
		}
		f.lane.Store(ln)
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, srv := range servers {
		f.logger.Info("listening", "addr", lns[i].Addr().String(), "tls", f.listeners[i].TLS())
		g.Go(func() error {
			err := srv.Serve(lns[i])
			if gctx.Err() != nil {
				return nil // closed by shutdown
			}
			return err
		})
	}
	f.serving.Store(true)
	g.Go(func() error { f.flushLoop(gctx); return nil })
	g.Go(func() error {
		<-gctx.Done()
		f.serving.Store(false)
		err := f.shutdown(servers, ln)
		// A server whose Serve had not yet registered its listener when
		// shutdown ran would accept forever: close the listeners too.
		for _, l := range lns {
			_ = l.Close()
		}
		for _, l := range laneLns {
			_ = l.Close()
		}
		return err
	})
	err := g.Wait()
	if al := f.access.Load(); al != nil {
		_ = al.flush()
	}
	return err
}

// shutdown drains every server in parallel within the grace period; what is
// still running after it is cut off.
func (f *Frontend) shutdown(servers []*fasthttp.Server, ln *lane) error {
	grace := f.cfg().Grace.D()
	f.logger.Info("draining", "grace", grace)
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if ln != nil {
		// The loops first: what they give the fasthttp servers while
		// they drain (a request they do not take, a connection after an
		// answer laneHard finished) is served by them, then drained.
		ln.shutdown(sctx)
	}
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			if err := srv.ShutdownWithContext(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
				f.logger.Warn("shutdown", "err", err)
			}
		})
	}
	wg.Wait()
	return nil
}

func (f *Frontend) flushLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if al := f.access.Load(); al != nil {
				if err := al.flush(); err != nil {
					f.logger.Error("access log", "err", err)
				}
			}
		}
	}
}

// serverName is the Server field of the frontend's answers.
const serverName = "cairn"

func (f *Frontend) newServer(i int) *fasthttp.Server {
	cfg := f.cfg()
	l := f.listeners[i]
	scheme := "http"
	if l.TLS() {
		scheme = "https"
	}
	return &fasthttp.Server{
		Handler:         func(ctx *fasthttp.RequestCtx) { f.serve(ctx, l, scheme) },
		ErrorHandler:    f.requestError,
		ExpectHandler:   func(ctx *fasthttp.RequestCtx) int { return f.expect(ctx, l) },
		Name:            serverName,
		ReadBufferSize:  int(cfg.MaxHeaderSize),
		WriteBufferSize: writeBufferSize,
		// Bodies are streamed: after the first bodyPrefetch bytes the
		// handler reads them (takeBody), into memory or a temporary
		// file, and checks max_body_size itself.
		StreamRequestBody:             true,
		MaxRequestBodySize:            bodyPrefetch,
		ReadTimeout:                   cfg.ReadTimeout.D(),
		WriteTimeout:                  cfg.WriteTimeout.D(),
		IdleTimeout:                   cfg.IdleTimeout.D(),
		Concurrency:                   cfg.MaxConns,
		DisableHeaderNamesNormalizing: true,
		NoDefaultContentType:          true,
		// A proxy forwards upload bodies as they came (nginx does): parsing
		// multipart forms costs CPU, spills large files to temporary
		// files, and would re-encode the body sent upstream.
		DisablePreParseMultipartForm: true,
		CloseOnShutdown:              true,
		// Nor is a client's malformed head (its cookies).
		SecureErrorLogMessage: true,
		Logger:                fasthttpLogger{f.logger},
	}
}

// fasthttpLogger sends fasthttp's own messages to slog at debug level:
// they are per-connection errors (client resets, timeouts), not events.
type fasthttpLogger struct{ l *slog.Logger }

func (fl fasthttpLogger) Printf(format string, args ...any) {
	fl.l.Debug(fmt.Sprintf(format, args...))
}

// requestError answers a request fasthttp could not read. A head too
// large or malformed may have a body coming behind it (large cookies and
// an upload): the answer is sent and the connection closed lingering, as
// after refusing a body, so that the client can read it rather than a
// reset. fasthttp writes the answer itself after this and closes the
// connection, without a hijack; so the answer is written here, and the
// connection closed, which makes fasthttp's own write fail. That is done
// on a connection's first request only (none read before it: fasthttp
// counts a request once its head is read): on a later one fasthttp may still
// hold earlier pipelined answers, which must go first (a request cut off
// by too large a head fails on every connection's first request anyway).
func (f *Frontend) requestError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := requestErrorStatus(err)
	ctx.Error(msg, status)
	// Whether the head was read: fasthttp keeps its fields only when it
	// was, and a head behind which a body could fail has a field saying
	// so (Content-Length, Transfer-Encoding).
	f.finish(ctx, nil, time.Now(), logged{noHead: len(ctx.Request.Header.RawHeaders()) == 0})
	if (status == fasthttp.StatusBadRequest || status == fasthttp.StatusRequestHeaderFieldsTooLarge) && ctx.ConnRequestNum() == 0 {
		ctx.SetConnectionClose()
		ctx.Response.Header.SetServer(serverName)
		f.answerLingering(ctx, ctx.Conn())
		_ = ctx.Conn().Close()
	}
}

// serve is the request path: virtual host, route, then the route's action.
func (f *Frontend) serve(ctx *fasthttp.RequestCtx, l Listener, scheme string) {
	start := ctx.Time() // fasthttp reads the clock just before calling us
	rt := f.acquire()
	defer rt.release()
	if !validHost(ctx.Host()) {
		// A Host with '/' or other path bytes would add segments to the
		// VirtualHostMonster path (or the HTTPS redirect's Location);
		// nginx answers such requests 400 too.
		f.refuse(ctx, "invalid Host header\n", fasthttp.StatusBadRequest)
		f.finish(ctx, nil, start, logged{})
		return
	}
	if !ctx.Request.Header.IsHTTP11() && string(ctx.Request.Header.Protocol()) != "HTTP/1.0" {
		// fasthttp takes any HTTP/x.y; forwarded, an upstream would get
		// the client's version, not the frontend's (RFC 9110 §6.2).
		f.refuse(ctx, "HTTP version not supported\n", fasthttp.StatusHTTPVersionNotSupported)
		f.finish(ctx, nil, start, logged{})
		return
	}
	if h := &ctx.Request.Header; h.IsConnect() || h.IsTrace() {
		// No tunnels; and TRACE would echo a client's cookies back to a
		// script (cross-site tracing). nginx refuses both too. 501: for
		// no resource (405 would have to list the methods allowed, an
		// open set for Zope's WebDAV).
		f.refuse(ctx, "not implemented\n", fasthttp.StatusNotImplemented)
		f.finish(ctx, nil, start, logged{})
		return
	}
	if ctx.Request.Header.Len() > rt.cfg.MaxHeaders {
		f.refuse(ctx, "too many request headers\n", fasthttp.StatusRequestHeaderFieldsTooLarge)
		f.finish(ctx, nil, start, logged{})
		return
	}
	if rt.cfg.declaredTooLarge(&ctx.Request.Header) {
		// Refused before more of it is read than fasthttp's first 8 KiB,
		// as nginx does; a chunked body is counted as it is read.
		f.bodyError(ctx, fasthttp.ErrBodyTooLarge)
		f.finish(ctx, nil, start, logged{})
		return
	}
	var lg logged
	if l.RedirectHTTPS {
		if f.dropBody(ctx, rt.cfg, &lg) {
			host, _ := publicHostPort(ctx, scheme)
			host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
			target := "https://" + net.JoinHostPort(host, strconv.Itoa(l.HTTPSPort))
			if l.HTTPSPort == 443 {
				target = strings.TrimSuffix(target, ":443") // an IPv6 address keeps its brackets
			}
			ctx.Response.Header.Set("Location", target+requestTarget(ctx))
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
		}
		f.finish(ctx, nil, start, lg)
		return
	}
	path := string(ctx.Path())
	r, groups, slash := rt.host(ctx.Host()).match(path)
	if slash {
		if f.dropBody(ctx, rt.cfg, &lg) {
			ctx.Response.Header.Set("Location", slashLocation(ctx))
			ctx.SetStatusCode(fasthttp.StatusMovedPermanently)
			setAddedHeaders(&ctx.Response, r.headers)
		}
		f.finish(ctx, r, start, lg)
		return
	}
	refused := !f.admitted(ctx, rt, r)
	if (r == nil || r.pool == nil || refused) && !f.dropBody(ctx, rt.cfg, &lg) {
		f.finish(ctx, r, start, lg)
		return
	}
	var uri [256]byte // holds lg.uri unless the request URI is longer
	switch {
	case refused: // answered by admitted
	case r == nil:
		ctx.Error("not found\n", fasthttp.StatusNotFound)
	case r.pool != nil:
		lg = f.proxy(ctx, rt, r, groups, path, scheme, start, uri[:0])
	case r.static != nil:
		f.serveStatic(ctx, r, r.rest(path, groups))
	case r.Redirect != "":
		ctx.Response.Header.Set("Location", r.expand(r.Redirect, groups, ctx, true))
		ctx.SetStatusCode(r.RedirectCode)
	default:
		ctx.SetStatusCode(r.Status)
		ctx.SetContentType(r.ContentType)
		setCacheHeaders(ctx, r, time.Time{})
		ctx.SetBody(r.body)
	}
	if r != nil && len(r.headers) > 0 {
		setAddedHeaders(&ctx.Response, r.headers)
	}
	f.compress(ctx)
	f.finish(ctx, r, start, lg)
}

// expect answers "Expect: 100-continue": a body over max_body_size is
// refused with 413 before the client sends it (nginx does the same), as is
// one to a route that refuses the client (403, 401), in the order serve
// checks them; any other is welcome. On a listener that only redirects to
// HTTPS, no route is looked at (no challenge for a password in clear).
// fasthttp sends the response set here, and closes, without calling the
// handler (its documentation asks an ExpectHandler not to set one; v1.78
// sends it, and the tests hold it to that).
func (f *Frontend) expect(ctx *fasthttp.RequestCtx, l Listener) int {
	rt := f.acquire()
	defer rt.release()
	if rt.cfg.declaredTooLarge(&ctx.Request.Header) {
		status, msg := requestErrorStatus(fasthttp.ErrBodyTooLarge)
		ctx.Error(msg, status)
		f.finish(ctx, nil, time.Now(), logged{})
		return status
	}
	if l.RedirectHTTPS {
		return fasthttp.StatusContinue
	}
	if r, _, slash := rt.host(ctx.Host()).match(string(ctx.Path())); !slash && !f.admitted(ctx, rt, r) {
		status := ctx.Response.StatusCode()
		f.finish(ctx, r, time.Now(), logged{})
		return status
	}
	return fasthttp.StatusContinue
}

// dropBody reads and drops the body of a request answered without it (a
// POST to a static file, a redirect), as nginx does, so the connection
// stays usable: fasthttp would close it with more than 256 KiB unread,
// resetting it. It is false when the body could not be read, and the
// request is answered (bodyError).
func (f *Frontend) dropBody(ctx *fasthttp.RequestCtx, cfg *Config, lg *logged) bool {
	if !ctx.Request.IsBodyStream() {
		return true
	}
	n, err := discardBody(&ctx.Request, cfg)
	lg.bodyIn = n
	if err != nil {
		f.bodyError(ctx, err)
		return false
	}
	return true
}

// refuse answers a request whose head is unacceptable, and closes the
// connection: lingering when a body follows the head, which is left
// unread.
func (f *Frontend) refuse(ctx *fasthttp.RequestCtx, msg string, status int) {
	ctx.Error(msg, status)
	if ctx.Request.IsBodyStream() {
		f.lingerClose(ctx)
	} else {
		ctx.SetConnectionClose()
	}
}

// bodyError answers a request whose body could not be taken: too large
// (413), too slow (408), malformed or cut short (400), or not written to
// its temporary file (500). The rest of the
// body may still be on its way, so the connection is closed, lingering.
func (f *Frontend) bodyError(ctx *fasthttp.RequestCtx, err error) {
	status, msg := requestErrorStatus(err)
	switch status {
	case fasthttp.StatusRequestEntityTooLarge:
	case fasthttp.StatusInternalServerError:
		f.logger.Error("request body", "client", ctx.RemoteAddr().String(), "err", err)
	case fasthttp.StatusServiceUnavailable:
		f.logger.Warn("request body refused", "client", ctx.RemoteAddr().String(), "err", err)
	default:
		f.logger.Info("request body", "client", ctx.RemoteAddr().String(), "err", err)
	}
	ctx.Error(msg, status)
	f.lingerClose(ctx)
}

// errorPage answers status with the configured page, or a short message.
func (f *Frontend) errorPage(ctx *fasthttp.RequestCtx, rt *router, status int) {
	setErrorPage(&ctx.Response, rt, status)
}

// setErrorPage makes resp the answer errorPage gives.
func setErrorPage(resp *fasthttp.Response, rt *router, status int) {
	if page, ok := rt.cfg.errorPages[status]; ok {
		resp.SetStatusCode(status)
		resp.Header.SetContentType("text/html; charset=utf-8")
		resp.SetBody(page)
		return
	}
	// As RequestCtx.Error.
	resp.Reset()
	resp.SetStatusCode(status)
	resp.Header.SetContentType("text/plain; charset=utf-8")
	resp.SetBodyString(fasthttp.StatusMessage(status) + "\n")
}

// bodyBytes is the size of the body resp will send, as nginx's
// $body_bytes_sent counts it (headers excluded). Only a proxied or streamed
// body has its length in the header yet: fasthttp sets Content-Length from
// an in-memory body (a cached static file, an error page) when it writes
// the response, after the handler has returned.
func bodyBytes(resp *fasthttp.Response) int {
	switch {
	case resp.SkipBody:
		return 0
	case resp.IsBodyStream():
		return max(resp.Header.ContentLength(), 0)
	}
	return len(resp.Body())
}

// finish counts the request and writes its access log line.
func (f *Frontend) finish(ctx *fasthttp.RequestCtx, r *route, now time.Time, lg logged) {
	al := f.access.Load()
	var lr logRequest
	if al != nil {
		if !lg.client.IsValid() {
			lg.client, _ = clientIP(ctx, peerAddr(ctx), f.cfg().trusted)
		}
		if lg.noHead {
			lr = logRequest{status: ctx.Response.StatusCode()}
		} else {
			if lg.uri == nil {
				lg.uri = ctx.RequestURI()
			}
			lr = requestLine(ctx, lg.uri)
		}
	}
	f.account(r, &ctx.Response, int64(len(ctx.Request.Header.RawHeaders()))+lg.bodyIn, al, lr, lg.client, now)
}

// account counts a request whose head and body took in bytes, answered
// with resp, and writes its line (lr, from client) to al unless al is nil.
func (f *Frontend) account(r *route, resp *fasthttp.Response, in int64, al *accessLog, lr logRequest, client netip.Addr, now time.Time) {
	status := resp.StatusCode()
	if r != nil {
		r.requests[classIndex(status)].Inc()
	} else {
		f.m.unroutedRequests(classIndex(status)).Inc()
	}
	f.m.bytesIn.Add(float64(in))
	if body, ok := resp.BodyStream().(streamedBody); ok {
		// Counted and logged once sent, with the bytes that were (a client
		// may abandon a long download; a chunked body's size is known only
		// at its end), as nginx logs a request when it is over.
		var line pendingLine
		if al != nil {
			line = al.pendingLine(lr, client, now)
		}
		body.onSent(func(n int64) {
			f.m.bytesOut.Add(float64(n))
			// The log of the moment: a reload may have replaced (and
			// closed) the one of the request's start.
			if al := f.access.Load(); al != nil && line.line != nil {
				al.writePending(line, n)
			}
		})
		return
	}
	sent := bodyBytes(resp)
	if sent > 0 {
		f.m.bytesOut.Add(float64(sent))
	}
	if al != nil {
		al.logLine(lr, client, sent, now)
	}
}

func (f *Frontend) openConns() float64 {
	sp := f.servers.Load()
	if sp == nil {
		return 0
	}
	n := 0
	for _, s := range *sp {
		n += int(s.GetOpenConnectionsCount())
	}
	if ln := f.lane.Load(); ln != nil {
		n += int(ln.conns.Load())
	}
	return float64(n)
}

// Reload swaps in a new validated configuration: hosts, routes, upstreams,
// error pages, the access log path and the certificates are replaced at
// once, without dropping a connection. Listener addresses and the
// connection limits are fixed at start; changes to them are refused (a
// restart applies them) and the old configuration stays.
func (f *Frontend) Reload(cfg *Config) error {
	if err := f.fixedChanged(cfg); err != nil {
		return err
	}
	var certs []*tls.Certificate
	for _, l := range cfg.Listeners {
		var c *tls.Certificate
		if l.TLS() {
			var err error
			if c, err = loadCert(l.TLSCert, l.TLSKey); err != nil {
				return fmt.Errorf("frontend: %w", err)
			}
		}
		certs = append(certs, c)
	}
	rt, err := newRouter(cfg, f.m, f.logger)
	if err != nil {
		return fmt.Errorf("frontend: %w", err)
	}
	if cfg.AccessLog != f.cfg().AccessLog {
		al, err := openAccessLog(cfg.AccessLog)
		if err != nil {
			rt.close()
			return fmt.Errorf("frontend: %w", err)
		}
		if old := f.access.Swap(al); old != nil {
			// Requests in flight may still write their lines to it (a
			// streamed download's, when it is over): closed, and so
			// flushed, once they have had the grace period.
			time.AfterFunc(f.cfg().Grace.D()+time.Second, func() {
				if err := old.close(); err != nil {
					f.logger.Error("access log", "err", err)
				}
			})
		}
	}
	for i, c := range certs {
		if c != nil {
			f.certs[i].cert.Store(c)
		}
	}
	// Requests in flight on the old router finish on it.
	f.retire(f.state.Swap(rt))
	return nil
}

// fixedChanged refuses a reload that changes what only a restart applies.
func (f *Frontend) fixedChanged(cfg *Config) error {
	if len(cfg.Listeners) != len(f.listeners) {
		return errors.New("frontend: listeners changed; restart to apply")
	}
	for i, l := range cfg.Listeners {
		o := f.listeners[i]
		if l.Addr != o.Addr || l.TLS() != o.TLS() || l.RedirectHTTPS != o.RedirectHTTPS || l.HTTPSPort != o.HTTPSPort {
			return fmt.Errorf("frontend: listener %s changed; restart to apply", o.Addr)
		}
	}
	old := f.cfg()
	type limits struct {
		a, b, c, d, e any
	}
	if !reflect.DeepEqual(limits{old.MaxHeaderSize, old.ReadTimeout, old.WriteTimeout, old.IdleTimeout, old.MaxConns},
		limits{cfg.MaxHeaderSize, cfg.ReadTimeout, cfg.WriteTimeout, cfg.IdleTimeout, cfg.MaxConns}) {
		return errors.New("frontend: connection limits or timeouts changed; restart to apply")
	}
	if old.EventLoop != cfg.EventLoop || old.EventLoops != cfg.EventLoops {
		return errors.New("frontend: event_loop or event_loops changed; restart to apply")
	}
	return nil
}

// ReopenLogs reopens the access log (SIGUSR1, after logrotate moved it).
func (f *Frontend) ReopenLogs() error {
	if al := f.access.Load(); al != nil {
		return al.reopen()
	}
	return nil
}

// Health is nil while the frontend accepts requests.
func (f *Frontend) Health() error {
	if !f.serving.Load() {
		return errors.New("not serving")
	}
	return nil
}

// Status is a snapshot for the admin endpoint.
type Status struct {
	Listeners []string
	OpenConns int
	Hosts     int
	Upstreams map[string][]string
}

// Status returns a copy of the frontend's state.
func (f *Frontend) Status() Status {
	cfg := f.cfg()
	s := Status{OpenConns: int(f.openConns()), Hosts: len(cfg.Hosts), Upstreams: map[string][]string{}}
	for _, l := range f.listeners {
		s.Listeners = append(s.Listeners, l.Addr)
	}
	for n, u := range cfg.Upstreams {
		s.Upstreams[n] = append([]string(nil), u.Addrs...)
	}
	return s
}

// Close releases the access log and upstream pools; it is safe to call
// twice.
func (f *Frontend) Close() error {
	var err error
	f.closeOnce.Do(func() {
		f.state.Load().close()
		if al := f.access.Load(); al != nil {
			err = al.close()
		}
	})
	return err
}

package frontend

import (
	"bytes"
	"errors"
	"iter"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"
)

// pool is an upstream: one keep-alive connection pool per address, chosen
// round-robin. An address that refuses the connection is skipped for this
// request (no byte reached it, so trying the next is safe).
type pool struct {
	name    string
	clients []*fasthttp.HostClient
	next    atomic.Uint32
	latency prometheus.Observer
	errs    *prometheus.CounterVec
}

func newPool(name string, u Upstream, m *metrics) *pool {
	p := &pool{name: name, latency: m.upstreamLatency.WithLabelValues(name), errs: m.upstreamErrors}
	connect := u.ConnectTimeout.D()
	for _, addr := range u.Addrs {
		p.clients = append(p.clients, &fasthttp.HostClient{
			Addr:                          addr,
			Name:                          "",
			NoDefaultUserAgentHeader:      true,
			DisableHeaderNamesNormalizing: true,
			DisablePathNormalizing:        true,
			MaxConns:                      u.MaxConns,
			MaxIdleConnDuration:           u.IdleTimeout.D(),
			ReadTimeout:                   u.ReadTimeout.D(),
			WriteTimeout:                  u.WriteTimeout.D(),
			MaxConnWaitTimeout:            connect,
			Dial: func(addr string) (net.Conn, error) {
				return fasthttp.DialTimeout(addr, connect)
			},
		})
	}
	return p
}

// do sends req and reads the answer into resp, trying the next address
// when one refuses the connection.
func (p *pool) do(req *fasthttp.Request, resp *fasthttp.Response) error {
	start := time.Now()
	n := len(p.clients)
	first := int(p.next.Add(1)) % n
	var err error
	for i := range n {
		c := p.clients[(first+i)%n]
		if err = c.Do(req, resp); err == nil || !isDialError(err) {
			break
		}
	}
	p.latency.Observe(time.Since(start).Seconds())
	if err != nil {
		p.errs.WithLabelValues(p.name, errorKind(err)).Inc()
	}
	return err
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

// hopHeaders are the hop-by-hop headers of RFC 9110 §7.6.1 (and the
// pre-standard Proxy-Connection), removed in both directions; headers named
// in Connection are removed too.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// headerFields is what removeHopByHop needs of a request or response
// header.
type headerFields interface {
	Peek(key string) []byte
	Del(key string)
	Len() int
	All() iter.Seq2[[]byte, []byte]
}

// removeHopByHop deletes the hop-by-hop fields present, in one pass over
// the header to find them (a Del per known name scanned the header nine
// times per direction per request).
func removeHopByHop(h headerFields) {
	var found [16]string
	n := 0
	for k := range h.All() {
		if n < len(found) && isHopHeader(k) {
			found[n] = string(k)
			n++
		}
	}
	if n == 0 {
		return
	}
	if c := h.Peek("Connection"); len(c) > 0 {
		for _, f := range bytes.Split(c, []byte(",")) {
			if f = bytes.TrimSpace(f); len(f) > 0 {
				h.Del(string(f))
			}
		}
	}
	for _, k := range found[:n] {
		h.Del(k)
	}
}

func isHopHeader(k []byte) bool {
	for _, h := range hopHeaders {
		if len(h) == len(k) && strings.EqualFold(h, string(k)) {
			return true
		}
	}
	return false
}

// clientIP is the address the request came from: the peer, or, when the
// peer is a trusted proxy, the last untrusted address in X-Forwarded-For
// (as nginx's real_ip_recursive does).
func clientIP(ctx *fasthttp.RequestCtx, trusted []netip.Prefix) (ip netip.Addr, fromTrusted bool) {
	ip = peerAddr(ctx)
	if !isTrusted(ip, trusted) {
		return ip, false
	}
	xff := ctx.Request.Header.Peek("X-Forwarded-For")
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
// style.md §12.7). Host is preserved as the client sent it.
func setForwarded(ctx *fasthttp.RequestCtx, req *fasthttp.Request, scheme string, trusted []netip.Prefix) {
	real, fromTrusted := clientIP(ctx, trusted)
	h := &req.Header
	if fromTrusted {
		peer := peerAddr(ctx).String()
		if prior := h.Peek("X-Forwarded-For"); len(prior) > 0 {
			h.Set("X-Forwarded-For", string(prior)+", "+peer)
		} else {
			h.Set("X-Forwarded-For", peer)
		}
		if len(h.Peek("X-Forwarded-Proto")) == 0 {
			h.Set("X-Forwarded-Proto", scheme)
		}
	} else {
		// From an untrusted peer the client is the peer itself.
		h.Del("X-Forwarded-Host")
		h.Set("X-Forwarded-For", real.String())
		h.Set("X-Forwarded-Proto", scheme)
	}
	h.Set("X-Real-IP", real.String())
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

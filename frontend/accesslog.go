package frontend

import (
	"bufio"
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/internal/logfile"
)

// accessLog writes nginx's "combined" format, so existing log tools read it:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// Lines are buffered and flushed at least once a second and at shutdown.
type accessLog struct {
	file *logfile.File

	mu      sync.Mutex // guards w, lost, buf and the time cache
	w       *bufio.Writer
	lost    error // why lines were dropped since the last flush (a full disk)
	buf     []byte
	timeSec int64  // the second timeStr was formatted for
	timeStr []byte // $time_local, formatted once a second
}

// appendTime appends $time_local, formatting it only when the second
// changes (formatting per request was a visible cost in profiles).
func (l *accessLog) appendTime(b []byte, now time.Time) []byte {
	if sec := now.Unix(); sec != l.timeSec || l.timeStr == nil {
		l.timeSec = sec
		l.timeStr = now.AppendFormat(l.timeStr[:0], clfTime)
	}
	return append(b, l.timeStr...)
}

func openAccessLog(path string) (*accessLog, error) {
	if path == "off" {
		return nil, nil
	}
	f, err := logfile.Open(path)
	if err != nil {
		return nil, err
	}
	return &accessLog{file: f, w: bufio.NewWriterSize(f, 64<<10)}, nil
}

const clfTime = "02/Jan/2006:15:04:05 -0700"

// log writes the line of one request; uri is its request URI as received
// (proxying may have rewritten the request in place).
// logLine writes the line of one request; its uri is the request URI as
// received (proxying may have rewritten the request in place).
func (l *accessLog) logLine(r logRequest, remote netip.Addr, sent int, now time.Time) {
	l.mu.Lock()
	b := l.appendHead(l.buf[:0], &r, remote, now)
	b = strconv.AppendInt(b, int64(sent), 10)
	b = appendTail(b, &r)
	l.write(b)
	l.buf = b
	l.mu.Unlock()
}

// write buffers a line; l.mu is held. A bufio.Writer keeps its first
// write error for ever: after a failed write (a full disk) the buffer is
// dropped, and the writer starts afresh on the file, so that logging
// resumes once the file takes writes again (or after SIGUSR1's reopen).
func (l *accessLog) write(b []byte) {
	if _, err := l.w.Write(b); err != nil {
		l.dropped(err)
	}
}

// dropped forgets the buffered lines a write could not take; l.mu is held.
func (l *accessLog) dropped(err error) {
	if l.lost == nil {
		l.lost = fmt.Errorf("access log lines lost: %w", err)
	}
	l.w.Reset(l.file)
}

// pendingLine is the line of a request whose body is still being sent:
// everything but $body_bytes_sent, which goes at cut.
type pendingLine struct {
	line []byte
	cut  int
}

// pendingLine formats the line of a request whose body size is known only
// once it has been sent (a streamed upstream body, which the client may
// also abandon); writePending completes it. The request's fields are read
// now: by then fasthttp may have reset them.
func (l *accessLog) pendingLine(r logRequest, remote netip.Addr, now time.Time) pendingLine {
	l.mu.Lock()
	b := l.appendHead(nil, &r, remote, now)
	l.mu.Unlock()
	cut := len(b)
	return pendingLine{line: appendTail(b, &r), cut: cut}
}

// writePending writes p with the bytes sent. l is the log of the moment,
// which a reload may have changed since the line was formatted.
func (l *accessLog) writePending(p pendingLine, sent int64) {
	l.mu.Lock()
	b := append(l.buf[:0], p.line[:p.cut]...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, p.line[p.cut:]...)
	l.write(b)
	l.buf = b
	l.mu.Unlock()
}

// logRequest is what a log line says of a request and its answer.
type logRequest struct {
	method, uri, proto, referer, userAgent []byte
	user                                   string // of Basic authentication, or ""
	status                                 int
}

// requestLine is the logRequest of a request served through fasthttp; uri
// is its request URI as received.
func requestLine(ctx *fasthttp.RequestCtx, uri []byte) logRequest {
	user, _, _ := basicAuth(&ctx.Request.Header)
	return logRequest{method: ctx.Method(), uri: uri, proto: ctx.Request.Header.Protocol(),
		referer: ctx.Referer(), userAgent: ctx.UserAgent(), user: user, status: ctx.Response.StatusCode()}
}

// appendHead appends the line up to $body_bytes_sent; l.mu is held (for
// the time cache).
func (l *accessLog) appendHead(b []byte, r *logRequest, remote netip.Addr, now time.Time) []byte {
	b = remote.AppendTo(b)
	b = append(b, " - "...)
	if r.user != "" {
		b = appendEscaped(b, []byte(r.user))
	} else {
		b = append(b, '-')
	}
	b = append(b, " ["...)
	b = l.appendTime(b, now)
	b = append(b, "] \""...)
	b = appendEscaped(b, r.method)
	b = append(b, ' ')
	b = appendEscaped(b, r.uri)
	b = append(b, ' ')
	b = appendEscaped(b, r.proto)
	b = append(b, "\" "...)
	b = strconv.AppendInt(b, int64(r.status), 10)
	return append(b, ' ')
}

// appendTail appends the line after $body_bytes_sent.
func appendTail(b []byte, r *logRequest) []byte {
	b = append(b, " \""...)
	b = appendEscapedOrDash(b, r.referer)
	b = append(b, "\" \""...)
	b = appendEscapedOrDash(b, r.userAgent)
	return append(b, "\"\n"...)
}

// basicAuth reads the request's "Authorization: Basic" credentials, the
// field in any spelling (a proxy may send it in lower case).
func basicAuth(h *fasthttp.RequestHeader) (user, pass string, ok bool) {
	var buf [128]byte
	return parseBasicAuth(appendFieldFold(buf[:0], h.All(), "Authorization"))
}

func appendEscapedOrDash(b, v []byte) []byte {
	if len(v) == 0 {
		return append(b, '-')
	}
	return appendEscaped(b, v)
}

// appendEscaped writes v as nginx does in logs: '"', '\' and bytes outside
// printable ASCII become \xHH, so a client cannot forge log lines.
// Runs of bytes that need no escaping, nearly all of a line, are appended
// whole.
func appendEscaped(b, v []byte) []byte {
	const hex = "0123456789ABCDEF"
	for len(v) > 0 {
		i := 0
		for i < len(v) && v[i] >= 0x20 && v[i] < 0x7f && v[i] != '"' && v[i] != '\\' {
			i++
		}
		b = append(b, v[:i]...)
		if i == len(v) {
			break
		}
		c := v[i]
		b = append(b, '\\', 'x', hex[c>>4], hex[c&15])
		v = v[i+1:]
	}
	return b
}

// flush writes the buffered lines; its error says which were lost, since
// the last flush.
func (l *accessLog) flush() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.w.Flush(); err != nil {
		l.dropped(err)
	}
	err := l.lost
	l.lost = nil
	return err
}

// reopen flushes, then reopens the file (SIGUSR1, after logrotate moved
// it), even when the flush failed: a new file may take what the old could
// not.
func (l *accessLog) reopen() error {
	ferr := l.flush()
	l.mu.Lock()
	defer l.mu.Unlock()
	return errors.Join(ferr, l.file.Reopen())
}

func (l *accessLog) close() error {
	err := l.flush()
	if cerr := l.file.Close(); err == nil {
		err = cerr
	}
	return err
}

// parseBasicAuth returns the user of an "Authorization: Basic" header.
func parseBasicAuth(h []byte) (user, pass string, ok bool) {
	const prefix = "basic "
	if len(h) < len(prefix) || !strings.EqualFold(string(h[:len(prefix)]), prefix) {
		return "", "", false
	}
	dec, err := base64.StdEncoding.DecodeString(string(h[len(prefix):]))
	if err != nil {
		return "", "", false
	}
	user, pass, ok = strings.Cut(string(dec), ":")
	return user, pass, ok
}

package frontend

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/internal/logfile"
)

// accessLog writes nginx's "combined" format, so existing log tools read it:
//
//	$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent "$http_referer" "$http_user_agent"
//
// Lines are buffered and flushed at least once a second and at shutdown.
// Each is formatted outside any lock and only copied into the buffer
// under it, and a full buffer is written by the caller that filled it
// after letting go of the buffer: the event loops log every request, and
// a lock held for formatting or a file write had one loop waiting on the
// other (seen in the scheduler's trace).
type accessLog struct {
	file    *logfile.File
	time    atomic.Pointer[logTime] // $time_local of the latest second
	scratch sync.Pool               // *[]byte, for formatting a line

	mu    sync.Mutex // guards buf, spare and lost
	buf   []byte     // lines not yet written
	spare []byte     // a written buffer, for the next one
	lost  error      // why lines were dropped since the last flush (a full disk)

	// wmu is held while a buffer is written; it is taken before mu is
	// let go of, so buffers are written in the order they were filled.
	wmu sync.Mutex
}

// logTime is $time_local, formatted once a second (formatting per
// request was a visible cost in profiles).
type logTime struct {
	sec int64
	str []byte
}

// accessLogBuffer is the size at which buffered lines are written.
const accessLogBuffer = 64 << 10

func (l *accessLog) appendTime(b []byte, now time.Time) []byte {
	t := l.time.Load()
	if sec := now.Unix(); t == nil || t.sec != sec {
		t = &logTime{sec: sec, str: now.AppendFormat(nil, clfTime)}
		l.time.Store(t)
	}
	return append(b, t.str...)
}

func openAccessLog(path string) (*accessLog, error) {
	if path == "off" {
		return nil, nil
	}
	f, err := logfile.Open(path)
	if err != nil {
		return nil, err
	}
	return &accessLog{file: f, buf: make([]byte, 0, accessLogBuffer)}, nil
}

const clfTime = "02/Jan/2006:15:04:05 -0700"

// logLine writes the line of one request; its uri is the request URI as
// received (proxying may have rewritten the request in place).
func (l *accessLog) logLine(r logRequest, remote netip.Addr, sent int, now time.Time) {
	bp := l.line()
	b := l.appendHead((*bp)[:0], &r, remote, now)
	b = strconv.AppendInt(b, int64(sent), 10)
	b = appendTail(b, &r)
	l.add(b)
	*bp = b
	l.scratch.Put(bp)
}

// line is a scratch buffer for formatting a line.
func (l *accessLog) line() *[]byte {
	if bp, ok := l.scratch.Get().(*[]byte); ok {
		return bp
	}
	return new([]byte)
}

// add buffers a line, and writes the buffer out when it is full.
func (l *accessLog) add(line []byte) {
	l.mu.Lock()
	if len(l.buf)+len(line) <= accessLogBuffer || len(l.buf) == 0 {
		l.buf = append(l.buf, line...)
		l.mu.Unlock()
		return
	}
	full := l.take()
	l.buf = append(l.buf, line...)
	l.mu.Unlock()
	l.write(full)
}

// take returns the buffered lines for write, leaving an empty buffer; l.mu
// is held, and l.wmu is taken, for write to let go of.
func (l *accessLog) take() []byte {
	full := l.buf
	l.buf, l.spare = l.spare[:0], nil
	if l.buf == nil {
		l.buf = make([]byte, 0, accessLogBuffer)
	}
	l.wmu.Lock()
	return full
}

// write writes lines take returned, and lets go of l.wmu. Lines a write
// cannot take (a full disk) are dropped, and said so at the next flush;
// the next buffer is tried again.
func (l *accessLog) write(full []byte) {
	var err error
	if len(full) > 0 {
		_, err = l.file.Write(full)
	}
	l.wmu.Unlock()
	l.mu.Lock()
	if err != nil && l.lost == nil {
		l.lost = fmt.Errorf("access log lines lost: %w", err)
	}
	if l.spare == nil && cap(full) <= 2*accessLogBuffer {
		l.spare = full[:0]
	}
	l.mu.Unlock()
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
	b := l.appendHead(nil, &r, remote, now)
	cut := len(b)
	return pendingLine{line: appendTail(b, &r), cut: cut}
}

// writePending writes p with the bytes sent. l is the log of the moment,
// which a reload may have changed since the line was formatted.
func (l *accessLog) writePending(p pendingLine, sent int64) {
	bp := l.line()
	b := append((*bp)[:0], p.line[:p.cut]...)
	b = strconv.AppendInt(b, sent, 10)
	b = append(b, p.line[p.cut:]...)
	l.add(b)
	*bp = b
	l.scratch.Put(bp)
}

// logRequest is what a log line says of a request and its answer. A nil
// method means no request line was read, logged as "-".
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

// appendHead appends the line up to $body_bytes_sent.
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
	if r.method == nil {
		// No request line was read (a head cut off, too large or
		// malformed): nginx's "-" rather than a request made up.
		b = append(b, '-')
	} else {
		b = appendEscaped(b, r.method)
		b = append(b, ' ')
		b = appendEscaped(b, r.uri)
		b = append(b, ' ')
		b = appendEscaped(b, r.proto)
	}
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
	full := l.take()
	l.mu.Unlock()
	l.write(full)
	l.mu.Lock()
	defer l.mu.Unlock()
	err := l.lost
	l.lost = nil
	return err
}

// reopen flushes, then reopens the file (SIGUSR1, after logrotate moved
// it), even when the flush failed: a new file may take what the old could
// not.
func (l *accessLog) reopen() error {
	ferr := l.flush()
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

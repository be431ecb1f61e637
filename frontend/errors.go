package frontend

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/valyala/fasthttp"
)

// statusFor maps an upstream error to the status the client gets, in one
// place: a dead upstream answers 502 at once, a hung or unreachable one 504
// after its timeout.
func statusFor(err error) int {
	switch errorKind(err) {
	case "timeout", "connect_timeout":
		return fasthttp.StatusGatewayTimeout
	case "busy":
		return fasthttp.StatusServiceUnavailable
	}
	return fasthttp.StatusBadGateway
}

// errorKind names an upstream error for metrics and logs.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case errors.Is(err, fasthttp.ErrDialTimeout):
		return "connect_timeout"
	case errors.Is(err, fasthttp.ErrNoFreeConns):
		return "busy"
	case errors.Is(err, fasthttp.ErrTimeout), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF),
		errors.Is(err, fasthttp.ErrConnectionClosed):
		return "reset"
	}
	return "other"
}

// requestErrorStatus maps the errors reading a request to statuses: an
// oversized body 413 (nginx's client_max_body_size), an oversized head
// 431, a client too slow to send its request 408, a temporary file the
// frontend could not write 500, one past max_body_temp_total 503,
// anything else 400.
func requestErrorStatus(err error) (int, string) {
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	var spool spoolError
	switch {
	case errors.As(err, &spool):
		return fasthttp.StatusInternalServerError, "internal server error\n"
	case errors.Is(err, errNoRoom):
		return fasthttp.StatusServiceUnavailable, "too many uploads at once: try again later\n"
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		return fasthttp.StatusRequestEntityTooLarge, "request body too large\n"
	case errors.As(err, &small):
		return fasthttp.StatusRequestHeaderFieldsTooLarge, "request header too large\n"
	case errors.As(err, &ne) && ne.Timeout():
		return fasthttp.StatusRequestTimeout, "request timeout\n"
	}
	return fasthttp.StatusBadRequest, "bad request\n"
}

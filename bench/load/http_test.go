package load

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/cairnstack/cairn/internal/proctest"
)

// target is a test server on a 127.0.0.1 port that records what it saw.
type target struct {
	addr  string
	conns atomic.Int64 // connections accepted
	reqs  atomic.Int64 // requests answered
	mu    sync.Mutex
	seen  map[string]int // "METHOD path" → count
	last  map[string]string
}

// startTarget serves handle (nil: a 100-byte 200) on a free port until
// the test ends.
func startTarget(t *testing.T, handle func(ctx *fasthttp.RequestCtx)) *target {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tg := &target{addr: ln.Addr().String(), seen: map[string]int{}, last: map[string]string{}}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			tg.reqs.Add(1)
			tg.mu.Lock()
			tg.seen[string(ctx.Method())+" "+string(ctx.Path())]++
			tg.last["header"] = string(ctx.Request.Header.Peek("X-Test"))
			tg.last["cookie"] = string(ctx.Request.Header.Cookie("session"))
			tg.last["body"] = string(ctx.PostBody())
			tg.last["ua"] = string(ctx.UserAgent())
			tg.mu.Unlock()
			if handle != nil {
				handle(ctx)
				return
			}
			ctx.SetBodyString(strings.Repeat("x", 100))
		},
		ConnState: func(_ net.Conn, s fasthttp.ConnState) {
			if s == fasthttp.StateNew {
				tg.conns.Add(1)
			}
		},
	}
	go srv.Serve(ln)                     //nolint:errcheck // ends with Shutdown
	t.Cleanup(func() { srv.Shutdown() }) //nolint:errcheck
	return tg
}

func (tg *target) url(path string) string { return "http://" + tg.addr + path }

func quick() Options {
	o := DefaultOptions()
	o.Connections, o.Duration, o.WarmUp, o.Timeout = 4, 500*time.Millisecond, 0, 2*time.Second
	return o
}

func one(url string) Scenario {
	r := Request{URL: url}
	if err := r.validate(); err != nil {
		panic(err)
	}
	return Scenario{Requests: []Request{r}}
}

func TestClosedModelCountsEveryRequest(t *testing.T) {
	tg := startTarget(t, nil)
	res, err := HTTP(context.Background(), one(tg.url("/page")), quick(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests == 0 || res.Requests != tg.reqs.Load() {
		t.Errorf("result counts %d requests, the server answered %d", res.Requests, tg.reqs.Load())
	}
	if res.Statuses["200"] != res.Requests || res.Errors != 0 || res.Non2xx3xx != 0 {
		t.Errorf("statuses %v, errors %v", res.Statuses, res.ErrorKinds)
	}
	if res.BodyBytes != 100*res.Requests {
		t.Errorf("body bytes %d for %d requests of 100", res.BodyBytes, res.Requests)
	}
	if n := tg.conns.Load(); n > 4 {
		t.Errorf("keep-alive run opened %d connections for 4 workers", n)
	}
	if res.Throughput <= 0 || res.Latency.P50 <= 0 || res.Latency.Max < res.Latency.P99 || len(res.Percentiles) != len(curve) {
		t.Errorf("summary %+v", res.Latency)
	}
	if len(res.Series) == 0 {
		t.Error("no time series")
	}
}

func TestRequestLimitAndWarmUp(t *testing.T) {
	tg := startTarget(t, nil)
	o := quick()
	o.WarmUp, o.Duration, o.Requests = 200*time.Millisecond, 10*time.Second, 300
	start := time.Now()
	res, err := HTTP(context.Background(), one(tg.url("/")), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Requests != 300 {
		t.Errorf("measured %d requests, want exactly 300", res.Requests)
	}
	if served := tg.reqs.Load(); served <= 300 {
		t.Errorf("server answered %d: the warm-up sent nothing?", served)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("a 300-request run took %v", time.Since(start))
	}
}

func TestNoKeepAliveOpensAConnectionPerRequest(t *testing.T) {
	tg := startTarget(t, nil)
	o := quick()
	o.KeepAlive, o.Requests = false, 50
	res, err := HTTP(context.Background(), one(tg.url("/")), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.KeepAlive || res.Requests != 50 {
		t.Fatalf("keep-alive %v, %d requests", res.KeepAlive, res.Requests)
	}
	if c := tg.conns.Load(); c < tg.reqs.Load() {
		t.Errorf("%d connections for %d requests without keep-alive", c, tg.reqs.Load())
	}
}

func TestScenarioMixMethodsHeadersCookiesBodies(t *testing.T) {
	tg := startTarget(t, nil)
	sc, err := ParseScenario("mix.toml", []byte(`
[scenario.defaults]
headers = { "X-Test" = "on" }
cookies = { session = "abc" }

[[scenario.requests]]
url = "`+tg.url("/a")+`"
weight = 3

[[scenario.requests]]
url = "`+tg.url("/b")+`"
method = "POST"
body = "payload"
`), "")
	if err != nil {
		t.Fatal(err)
	}
	o := quick()
	// The count ends the run; the duration only bounds it (under -race
	// beside the other test packages, 2000 requests can take more than
	// quick's half second).
	o.Requests, o.Duration = 2000, time.Minute
	res, err := HTTP(context.Background(), sc, o, nil)
	if err != nil {
		t.Fatal(err)
	}
	tg.mu.Lock()
	defer tg.mu.Unlock()
	a, b := tg.seen["GET /a"], tg.seen["POST /b"]
	if a+b != int(tg.reqs.Load()) || res.Requests != 2000 {
		t.Fatalf("seen %v; %d requests", tg.seen, res.Requests)
	}
	if share := float64(a) / float64(a+b); share < 0.70 || share > 0.80 {
		t.Errorf("weight 3:1 gave a share of %.2f for /a", share)
	}
	if tg.last["header"] != "on" || tg.last["cookie"] != "abc" || tg.last["ua"] != "cairn-bench" {
		t.Errorf("the server saw %v", tg.last)
	}
}

func TestErrorsByKind(t *testing.T) {
	// A port nobody listens on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	refused := "http://" + ln.Addr().String() + "/"
	ln.Close()

	// A server that answers garbage, and one that hangs up at once.
	garbage := "http://" + proctest.RawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')        //nolint:errcheck
		c.Write([]byte("NOT HTTP AT ALL\r\n\r\n")) //nolint:errcheck
	}) + "/"
	hangup := "http://" + proctest.RawServer(t, func(c net.Conn) {}) + "/"

	slow := startTarget(t, func(ctx *fasthttp.RequestCtx) { time.Sleep(300 * time.Millisecond) })
	failing := startTarget(t, func(ctx *fasthttp.RequestCtx) { ctx.SetStatusCode(503) })

	for _, tc := range []struct {
		name, url, kind string
		timeout         time.Duration
	}{
		{"refused", refused, "connect refused", time.Second},
		{"garbage", garbage, "bad response", time.Second},
		{"hangup", hangup, "connection closed", time.Second},
		{"timeout", slow.url("/"), "timeout", 50 * time.Millisecond},
	} {
		// The closed model runs on event loops, the open one on goroutine
		// workers: both must name the errors alike.
		for _, rate := range []float64{0, 200} {
			t.Run(fmt.Sprintf("%s/rate=%g", tc.name, rate), func(t *testing.T) {
				o := quick()
				o.Duration, o.Timeout, o.Rate = 300*time.Millisecond, tc.timeout, rate
				res, err := HTTP(context.Background(), one(tc.url), o, nil)
				if err != nil {
					t.Fatal(err)
				}
				if res.Errors == 0 || res.ErrorKinds[tc.kind] != res.Errors {
					t.Errorf("errors %d by kind %v, want all %q", res.Errors, res.ErrorKinds, tc.kind)
				}
				// Failures are not requests, as in wrk: a dead server
				// must not show a throughput or fast latencies.
				if res.Requests != 0 || res.Throughput != 0 || res.Latency.P50 != 0 {
					t.Errorf("failed requests counted: %d requests, %.0f/s, p50 %v", res.Requests, res.Throughput, res.Latency.P50)
				}
			})
		}
	}
	res, err := HTTP(context.Background(), one(failing.url("/")), quick(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Non2xx3xx == 0 || res.Non2xx3xx != res.Statuses["503"] || res.Errors != 0 {
		t.Errorf("503s: non-2xx/3xx %d, statuses %v, errors %d", res.Non2xx3xx, res.Statuses, res.Errors)
	}
}

// TestSeriesShowsStalls: a second in which no request completes is a
// zero in the time series, not a gap (the chart drew straight across).
func TestSeriesShowsStalls(t *testing.T) {
	var start atomic.Int64
	tg := startTarget(t, func(ctx *fasthttp.RequestCtx) {
		s := time.Unix(0, start.Load())
		if since := time.Since(s); since > 900*time.Millisecond && since < 2300*time.Millisecond {
			time.Sleep(2300*time.Millisecond - since) // everything in flight waits out the stall
		}
	})
	o := quick()
	o.Duration, o.WarmUp = 3*time.Second, 0
	start.Store(time.Now().UnixNano())
	res, err := HTTP(context.Background(), one(tg.url("/")), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Series) < 3 || res.Series[1].At.D() != time.Second || res.Series[1].Requests != 0 {
		t.Errorf("series %+v; want a point at 1s with no requests", res.Series)
	}
}

// TestInterimResponsesSkipped: a 103 Early Hints before each answer is
// skipped by both paths (the event loops took it for the answer, and the
// real one for garbage).
func TestInterimResponsesSkipped(t *testing.T) {
	url := "http://" + proctest.RawServer(t, func(c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			if _, err := c.Write([]byte("HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n" +
				"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")); err != nil {
				return
			}
		}
	}) + "/"
	for _, rate := range []float64{0, 200} {
		o := quick()
		o.Duration, o.Rate = 300*time.Millisecond, rate
		res, err := HTTP(context.Background(), one(url), o, nil)
		if err != nil {
			t.Fatal(err)
		}
		if res.Requests == 0 || res.Statuses["200"] != res.Requests || len(res.Statuses) != 1 || res.Errors != 0 || res.BodyBytes != 5*res.Requests {
			t.Errorf("rate %g: %d requests, statuses %v, %d errors, %d body bytes; want 200s of 5 bytes only", rate, res.Requests, res.Statuses, res.Errors, res.BodyBytes)
		}
	}
}

func TestInterruptReturnsPartialResult(t *testing.T) {
	tg := startTarget(t, nil)
	o := quick()
	o.Duration = time.Minute
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err := HTTP(ctx, one(tg.url("/")), o, nil)
	if err == nil || res == nil || res.Requests == 0 {
		t.Fatalf("interrupted run: %v, %+v", err, res)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("stopping took %v", time.Since(start))
	}
}

func TestOptionsRefused(t *testing.T) {
	for _, o := range []Options{
		{Connections: 0, Duration: time.Second, Timeout: time.Second},
		{Connections: 1, Duration: 0, Timeout: time.Second},
		{Connections: 1, Duration: time.Second, Timeout: 0},
		{Connections: 1, Duration: time.Second, Timeout: time.Second, Rate: -1},
		{Connections: MaxConnections + 1, Duration: time.Second, Timeout: time.Second},
	} {
		if _, err := HTTP(context.Background(), one("http://127.0.0.1:1/"), o, nil); err == nil {
			t.Errorf("%+v accepted", o)
		}
	}
}

// TestBodiesAreCounted: chunked, large, close-delimited and HEAD
// responses end where they should on the event loops, and a TLS target
// works through the goroutine workers.
func TestBodiesAreCounted(t *testing.T) {
	chunked := startTarget(t, func(ctx *fasthttp.RequestCtx) {
		ctx.SetBodyStreamWriter(func(w *bufio.Writer) {
			for range 10 {
				w.WriteString(strings.Repeat("c", 1000)) //nolint:errcheck
				w.Flush()                                //nolint:errcheck
			}
		})
	})
	large := startTarget(t, func(ctx *fasthttp.RequestCtx) { ctx.SetBody(make([]byte, 1<<20)) })
	closing := "http://" + proctest.RawServer(t, func(c net.Conn) {
		bufio.NewReader(c).ReadString('\n')                                   //nolint:errcheck
		c.Write([]byte("HTTP/1.0 200 OK\r\n\r\n" + strings.Repeat("z", 777))) //nolint:errcheck
	}) + "/"
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write(make([]byte, 300)) })) //nolint:errcheck
	defer tls.Close()
	head := Request{URL: large.url("/"), Method: "HEAD"}
	head.validate() //nolint:errcheck
	for _, tc := range []struct {
		name string
		sc   Scenario
		body int64
	}{
		{"chunked", one(chunked.url("/")), 10000},
		{"large", one(large.url("/")), 1 << 20},
		{"close-delimited", one(closing), 777},
		{"head", Scenario{Requests: []Request{head}}, 0},
		{"tls", one(tls.URL + "/"), 300},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := quick()
			o.Duration, o.Insecure = 300*time.Millisecond, true
			res, err := HTTP(context.Background(), tc.sc, o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.Requests == 0 || res.Errors != 0 || res.Statuses["200"] != res.Requests {
				t.Fatalf("%d requests, errors %v, statuses %v", res.Requests, res.ErrorKinds, res.Statuses)
			}
			if res.BodyBytes != tc.body*res.Requests {
				t.Errorf("%d body bytes for %d requests of %d", res.BodyBytes, res.Requests, tc.body)
			}
		})
	}
}

package frontend

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the frontend's Prometheus series. Route counters are resolved
// once per compiled route (router.go), so the request path does no label
// lookups.
type metrics struct {
	requests        *prometheus.CounterVec
	upstreamLatency *prometheus.HistogramVec
	upstreamErrors  *prometheus.CounterVec
	bytesIn         prometheus.Counter
	bytesOut        prometheus.Counter
	// spooledResponses counts responses read into a temporary file
	// (respspool.go); spoolBytes is what those files hold now.
	spooledResponses prometheus.Counter
	spoolBytes       atomic.Int64
	// bodyTempBytes is what the temporary files of request bodies hold
	// now (reqbody.go).
	bodyTempBytes atomic.Int64

	// unrouted caches, by class, the counters of requests no route took
	// (host and route "_"), resolved on first use so that /metrics lists
	// only the classes seen.
	unrouted [len(classNames)]atomic.Pointer[prometheus.Counter]
}

// classNames are the class labels, by classIndex.
var classNames = [...]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(reg prometheus.Registerer, openConns func() float64) *metrics {
	f := promauto.With(reg)
	m := &metrics{
		requests: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_frontend_requests_total",
			Help: "Requests answered, by virtual host, route and status class.",
		}, []string{"host", "route", "class"}),
		upstreamLatency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cairn_frontend_upstream_duration_seconds",
			Help:    "Time from sending a request upstream to having its whole response.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"upstream"}),
		upstreamErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "cairn_frontend_upstream_errors_total",
			Help: "Failed upstream exchanges, by upstream and kind (refused, connect_timeout, timeout, reset, busy, other).",
		}, []string{"upstream", "kind"}),
		bytesIn: f.NewCounter(prometheus.CounterOpts{
			Name: "cairn_frontend_received_bytes_total",
			Help: "Request bytes received from clients (head and body).",
		}),
		bytesOut: f.NewCounter(prometheus.CounterOpts{
			Name: "cairn_frontend_sent_bytes_total",
			Help: "Response body bytes sent to clients.",
		}),
		spooledResponses: f.NewCounter(prometheus.CounterOpts{
			Name: "cairn_frontend_spooled_responses_total",
			Help: "Responses read from the upstream into a temporary file (too large for memory) while sent to the client.",
		}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_frontend_spooled_bytes",
		Help: "Bytes in the temporary files of responses being sent now.",
	}, func() float64 { return float64(m.spoolBytes.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_frontend_body_temp_bytes",
		Help: "Bytes in the temporary files of request bodies on their way upstream now.",
	}, func() float64 { return float64(m.bodyTempBytes.Load()) })
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "cairn_frontend_open_connections",
		Help: "Client connections open now.",
	}, openConns)
	return m
}

// unroutedRequests is the counter of requests of a status class that no
// route took.
func (m *metrics) unroutedRequests(class int) prometheus.Counter {
	if c := m.unrouted[class].Load(); c != nil {
		return *c
	}
	c := m.requests.WithLabelValues("_", "_", classNames[class])
	m.unrouted[class].Store(&c)
	return c
}

// classIndex maps a status to the index of its class counter.
func classIndex(status int) int {
	if status < 100 || status > 599 {
		return 0
	}
	return status / 100
}

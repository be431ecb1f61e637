package objectstore

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the server's Prometheus metrics. Counters carry the
// storage name as a constant label.
type metrics struct {
	connected                         prometheus.Gauge
	loads, stores, commits, conflicts prometheus.Counter
	commitTime, lockWait              prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, s *Server) *metrics {
	if reg == nil {
		reg = prometheus.NewRegistry() // registers nothing anyone reads
	}
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"storage": s.cfg.Name}, reg)
	f := promauto.With(reg)
	m := &metrics{
		connected: f.NewGauge(prometheus.GaugeOpts{Name: "cairn_objectstore_connected_clients", Help: "ZEO client connections past the handshake."}),
		loads:     f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_loads_total", Help: "loadBefore and loadSerial calls."}),
		stores:    f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_stores_total", Help: "storea calls."}),
		commits:   f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_commits_total", Help: "Committed transactions."}),
		conflicts: f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_conflicts_total", Help: "Write and read conflicts reported by votes."}),
		commitTime: f.NewHistogram(prometheus.HistogramOpts{Name: "cairn_objectstore_commit_duration_seconds", Help: "Time from tpc_finish to durable and published.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lockWait: f.NewHistogram(prometheus.HistogramOpts{Name: "cairn_objectstore_lock_wait_seconds", Help: "Time votes waited for the commit lock.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_db_size_bytes", Help: "Size of the storage file."},
		func() float64 { return float64(s.st.db.Stats().Size) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_objects", Help: "Objects in the storage."},
		func() float64 { return float64(s.st.db.Stats().Objects) })
	if s.st.blobs != nil {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_blob_bytes", Help: "Bytes of committed blob files."},
			func() float64 { return float64(s.st.blobs.Size()) })
	}
	return m
}

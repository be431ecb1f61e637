package objectstore

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// serverMetrics are the server-wide metrics.
type serverMetrics struct {
	connected prometheus.Gauge
}

func newServerMetrics(reg prometheus.Registerer) *serverMetrics {
	f := promauto.With(reg)
	return &serverMetrics{
		connected: f.NewGauge(prometheus.GaugeOpts{Name: "cairn_objectstore_connected_clients", Help: "ZEO client connections past the handshake."}),
	}
}

// metrics are one storage's metrics; they carry the storage name as a
// constant label.
type metrics struct {
	loads, stores, commits, conflicts prometheus.Counter
	commitTime, lockWait              prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, st *storage) *metrics {
	reg = prometheus.WrapRegistererWith(prometheus.Labels{"storage": st.name}, reg)
	f := promauto.With(reg)
	m := &metrics{
		loads:     f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_loads_total", Help: "loadBefore and loadSerial calls."}),
		stores:    f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_stores_total", Help: "storea calls."}),
		commits:   f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_commits_total", Help: "Committed transactions."}),
		conflicts: f.NewCounter(prometheus.CounterOpts{Name: "cairn_objectstore_conflicts_total", Help: "Write and read conflicts reported by votes."}),
		commitTime: f.NewHistogram(prometheus.HistogramOpts{Name: "cairn_objectstore_commit_duration_seconds", Help: "Time from tpc_finish to durable and published.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		lockWait: f.NewHistogram(prometheus.HistogramOpts{Name: "cairn_objectstore_lock_wait_seconds", Help: "Time votes waited for the commit lock.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16)}),
	}
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_db_size_bytes", Help: "Size of the storage file, plus the data of logged transactions not yet checkpointed into it."},
		func() float64 { return float64(st.db.Stats().Size) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_objects", Help: "Objects in the storage."},
		func() float64 { return float64(st.db.Stats().Objects) })
	f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_logged_transactions", Help: "Committed transactions in the commit log not yet checkpointed into the storage file."},
		func() float64 { return float64(st.db.Stats().Logged) })
	f.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_objectstore_checkpoints_total", Help: "Checkpoints of the commit log into the storage file."},
		func() float64 { return float64(st.db.Stats().Checkpoints) })
	f.NewCounterFunc(prometheus.CounterOpts{Name: "cairn_objectstore_checkpoint_seconds_total", Help: "Time spent writing checkpoints."},
		func() float64 { return st.db.Stats().CheckpointTime.Seconds() })
	if st.blobs != nil {
		f.NewGaugeFunc(prometheus.GaugeOpts{Name: "cairn_objectstore_blob_bytes", Help: "Bytes of committed blob files."},
			func() float64 { return float64(st.blobs.Size()) })
	}
	return m
}

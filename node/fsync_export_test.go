package node

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// WALFsyncsForTest is the number of fsyncs the member's write-ahead log
// has made (the etcd_disk_wal_fsync_duration_seconds count).
func (s *Server) WALFsyncsForTest() uint64 {
	var m dto.Metric
	if err := s.metrics.WALFsync.(prometheus.Metric).Write(&m); err != nil {
		panic(err)
	}
	return m.GetHistogram().GetSampleCount()
}

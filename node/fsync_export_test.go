package node

// WALFsyncsForTest is the number of fsyncs the member's write-ahead log
// has made (the cairn_disk_wal_fsync_duration_seconds count).
func (s *Server) WALFsyncsForTest() uint64 { return s.metrics.walFsync.Count() }

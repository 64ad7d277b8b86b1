package node

// StoreDurableTxIDForTest is the id of the store's last commit that is
// durable in its page file.
func (s *Server) StoreDurableTxIDForTest() uint64 {
	return s.replica.State.Store().DB().DurableTxID()
}

package node

import (
	"fmt"

	"github.com/cairndb/cairn/node/replica"
)

// The server's side of a repair of lost data (the member's side is in
// replica/repair.go): logging its steps and reporting it in Status.

// onRepairChange logs each step of the member's repair (on the core's
// goroutine).
func (s *Server) onRepairChange(st replica.RepairState) {
	switch {
	case st.Damage == "" && st.ReadRefusal == nil:
		s.log.Info("the member is repaired: it holds again everything it acknowledged, votes and serves")
	case st.ReadRefusal != nil && st.Raft.Answered:
		s.log.Error("the member's store is ahead of the cluster", "state", st.String())
	default:
		s.log.Warn("the member lost data it had acknowledged and repairs itself from the cluster", "state", st.String())
	}
}

// repairErrors is what the Status response says of a repair under way.
func (s *Server) repairErrors() []string {
	st := s.driver.Repair()
	if st == nil {
		return nil
	}
	return []string{fmt.Sprintf("memberID:%016x %s", s.id, st.String())}
}

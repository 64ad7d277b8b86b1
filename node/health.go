package node

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/cairndb/cairn/api"
)

// The health endpoints, as etcd 3.6 serves them, so that the probes of a
// Kubernetes manifest or a load balancer written for etcd work:
//
//   - /livez: the process serves (a local read succeeds). A failing
//     /livez means restart the process.
//   - /readyz: the member can serve clients: no data corruption or
//     NOSPACE alarm, it knows a leader, it has applied what it had
//     committed, local and linearizable reads succeed, and it is not a
//     learner. A failing /readyz means send no traffic here.
//   - /livez/NAME and /readyz/NAME run one check; ?exclude=NAME (repeated)
//     skips checks; ?verbose lists every check's outcome even on success.
//     The answer is "ok" (200) or the failed checks (503), in text.
//   - /health: etcd's older check, in JSON ({"health":"true","reason":""}):
//     no alarm (?exclude=NOSPACE skips one), a leader, and a read
//     (?serializable=true makes it local, and skips the leader check).

// healthTimeout bounds one check that waits on the cluster (a
// linearizable read, the apply of what was committed).
const healthTimeout = time.Second

// healthCheck is one named check; nil error means it passed.
type healthCheck struct {
	name  string
	check func(context.Context) error
}

func (s *Server) livezChecks() []healthCheck {
	return []healthCheck{
		{"serializable_read", func(ctx context.Context) error { return s.healthRead(ctx, true) }},
	}
}

func (s *Server) readyzChecks() []healthCheck {
	return []healthCheck{
		{"data_corruption", s.alarmCheck(api.AlarmCorrupt)},
		{"no_space", s.alarmCheck(api.AlarmNoSpace)},
		{"leader", func(context.Context) error {
			if s.driver.Leader() == 0 {
				return errors.New("no leader")
			}
			return nil
		}},
		{"applied", s.appliedCheck},
		{"serializable_read", func(ctx context.Context) error { return s.healthRead(ctx, true) }},
		{"linearizable_read", func(ctx context.Context) error { return s.healthRead(ctx, false) }},
		{"non_learner", func(context.Context) error {
			if s.isLearner() {
				return errors.New("not supported for learner")
			}
			return nil
		}},
	}
}

func (s *Server) alarmCheck(kind api.AlarmType) func(context.Context) error {
	return func(context.Context) error {
		if s.replica.State.HasAlarm(kind) {
			return fmt.Errorf("alarm activated: %s", kind)
		}
		return nil
	}
}

// appliedCheck waits until the member has applied every entry it had
// committed when the check started: a member replaying its log after a
// restart, or catching up, is not ready.
func (s *Server) appliedCheck(ctx context.Context) error {
	hs, _, _ := s.replica.Log.InitialState()
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	for {
		applied := s.replica.State.Store().AppliedIndex()
		if applied >= hs.Commit {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("applied index %d is behind the committed index %d", applied, hs.Commit)
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// healthRead reads one key of the store, locally or after a read barrier
// (a linearizable read), without the caller's credentials: a health check
// asks nothing of auth.
func (s *Server) healthRead(ctx context.Context, serializable bool) error {
	if err := s.Err(); err != nil {
		return err
	}
	if st := s.driver.Repair(); st != nil && st.ReadRefusal != nil {
		return st.ReadRefusal // a member repairing its log serves no read
	}
	if err := s.identityRefusal(); err != nil {
		return err // not yet confirmed by a peer (peer_confirm.go)
	}
	if !serializable {
		ctx, cancel := context.WithTimeout(ctx, healthTimeout)
		defer cancel()
		if err := s.readBarrier(ctx); err != nil {
			return err
		}
	}
	_, err := s.replica.State.Store().RangeRequest(&api.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}, KeysOnly: true, Limit: 1}, 0)
	return err
}

// installHealth registers /livez, /readyz, their checks, and /health.
func (s *Server) installHealth(mux *http.ServeMux) {
	for _, reg := range []struct {
		path   string
		checks []healthCheck
	}{{"/livez", s.livezChecks()}, {"/readyz", s.readyzChecks()}} {
		mux.HandleFunc(reg.path, func(w http.ResponseWriter, r *http.Request) {
			s.serveChecks(w, r, reg.path, reg.checks)
		})
		for _, c := range reg.checks {
			mux.HandleFunc(reg.path+"/"+c.name, func(w http.ResponseWriter, r *http.Request) {
				s.serveChecks(w, r, reg.path+"/"+c.name, []healthCheck{c})
			})
		}
	}
	mux.HandleFunc("/health", s.serveHealth)
}

// serveChecks runs checks, less those ?exclude= names, and answers "ok"
// or the failures, as etcd does.
func (s *Server) serveChecks(w http.ResponseWriter, r *http.Request, path string, checks []healthCheck) {
	if !onlyGet(w, r) {
		return
	}
	excluded := map[string]bool{}
	for _, name := range r.URL.Query()["exclude"] {
		if name != "" {
			excluded[name] = true
		}
	}
	var report strings.Builder
	failed := false
	for _, c := range checks {
		if excluded[c.name] {
			delete(excluded, c.name)
			continue
		}
		if err := c.check(r.Context()); err != nil {
			failed = true
			fmt.Fprintf(&report, "[-]%s failed: %v\n", c.name, err)
		} else {
			fmt.Fprintf(&report, "[+]%s ok\n", c.name)
		}
	}
	if len(excluded) > 0 {
		names := make([]string, 0, len(excluded))
		for n := range excluded {
			names = append(names, fmt.Sprintf("%q", n))
		}
		slices.Sort(names)
		s.log.Warn("some health checks cannot be excluded", "path", path, "missing-health-checks", strings.Join(names, ","))
	}
	if failed {
		s.log.Warn("health check failed", "path", path, "reason", report.String())
		http.Error(w, report.String(), http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if _, verbose := r.URL.Query()["verbose"]; verbose {
		fmt.Fprint(w, report.String())
	}
	fmt.Fprint(w, "ok\n")
}

// healthAnswer is /health's JSON.
type healthAnswer struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// serveHealth answers /health: no alarm but the excluded ones, a leader
// (unless ?serializable=true), and a read.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	if !onlyGet(w, r) {
		return
	}
	q := r.URL.Query()
	serializable := q.Get("serializable") == "true"
	h := s.health(r.Context(), q["exclude"], serializable)
	b, _ := json.Marshal(h)
	w.Header().Set("Content-Type", "application/json")
	if h.Health != "true" {
		s.log.Warn("/health error", "output", string(b), "status-code", http.StatusServiceUnavailable)
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_, _ = w.Write(b)
}

func (s *Server) health(ctx context.Context, excludedAlarms []string, serializable bool) healthAnswer {
	for _, a := range s.replica.State.Alarms() {
		if slices.Contains(excludedAlarms, a.Alarm.String()) {
			continue
		}
		switch a.Alarm {
		case api.AlarmNoSpace, api.AlarmCorrupt:
			return healthAnswer{"false", "ALARM " + a.Alarm.String()}
		default:
			return healthAnswer{"false", "ALARM UNKNOWN"}
		}
	}
	if !serializable && s.driver.Leader() == 0 {
		return healthAnswer{"false", "RAFT NO LEADER"}
	}
	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()
	if err := s.healthRead(ctx, serializable); err != nil {
		return healthAnswer{"false", "RANGE ERROR:" + err.Error()}
	}
	return healthAnswer{"true", ""}
}

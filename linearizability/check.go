package linearizability

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/cairndb/cairn/api"
)

var (
	// ErrNotLinearizable is wrapped by Check's error when the history has
	// no linearization.
	ErrNotLinearizable = errors.New("history is not linearizable")
	// ErrCheckTimeout is wrapped by Check's error when the checker ran out
	// of time before deciding; no violation was found in that time.
	ErrCheckTimeout = errors.New("linearizability check timed out")
)

// Check reports whether history is linearizable under model: nil when it
// is. When it is not, Check writes porcupine's HTML visualization of the
// history and its longest partial linearizations to a new file in vizDir
// (os.TempDir() when empty) and returns an error wrapping
// ErrNotLinearizable that names the file. A timeout of 0 means no limit;
// when the limit is reached first the error wraps ErrCheckTimeout.
func Check(history []porcupine.Operation, model Model, timeout time.Duration, vizDir string) error {
	_, err := check(history, model, timeout, vizDir, false)
	return err
}

// check is Check, also returning porcupine's linearization when verbose is
// set and the history is linearizable.
func check(history []porcupine.Operation, model Model, timeout time.Duration, vizDir string, verbose bool) (porcupine.LinearizationInfo, error) {
	if err := validateHistory(history, model); err != nil {
		return porcupine.LinearizationInfo{}, err
	}
	history = withoutUnknownReads(history)
	var result porcupine.CheckResult
	var info porcupine.LinearizationInfo
	if verbose {
		result, info = porcupine.CheckOperationsVerbose(model.Model, history, timeout)
	} else {
		result = porcupine.CheckOperationsTimeout(model.Model, history, timeout)
	}
	switch result {
	case porcupine.Ok:
		return info, nil
	case porcupine.Unknown:
		return info, fmt.Errorf("linearizability: %d operations, after %v: %w", len(history), timeout, ErrCheckTimeout)
	}
	if !verbose {
		// Check again, now collecting the partial linearizations the
		// visualization shows (slower, so only done on failure).
		_, info = porcupine.CheckOperationsVerbose(model.Model, history, timeout)
	}
	path, err := writeVisualization(model.Model, info, vizDir)
	if err != nil {
		return info, fmt.Errorf("linearizability: %d operations: %w (and the visualization could not be written: %v)",
			len(history), ErrNotLinearizable, err)
	}
	return info, fmt.Errorf("linearizability: %d operations: %w; visualization in %s", len(history), ErrNotLinearizable, path)
}

// validateHistory checks the shape of every operation before porcupine
// sees them, so bad input gets an error naming the operation rather than a
// confusing verdict.
func validateHistory(history []porcupine.Operation, model Model) error {
	for i, op := range history {
		if op.Return < op.Call {
			return fmt.Errorf("linearizability: operation %d (client %d): returns at %d before its call at %d",
				i, op.ClientId, op.Return, op.Call)
		}
		if op.ClientId < 0 {
			return fmt.Errorf("linearizability: operation %d: negative client id %d", i, op.ClientId)
		}
		if model.Validate == nil {
			continue
		}
		if err := model.Validate(op); err != nil {
			return fmt.Errorf("linearizability: operation %d (client %d, %s): %w",
				i, op.ClientId, describeOperation(op.Input, op.Output), err)
		}
	}
	return nil
}

// withoutUnknownReads leaves out the operations whose outcome is unknown
// and that cannot change the store (reads, and transactions that only
// read): they constrain nothing, yet every such operation could be placed
// anywhere after its call, which multiplies the checker's search.
func withoutUnknownReads(history []porcupine.Operation) []porcupine.Operation {
	kept := make([]porcupine.Operation, 0, len(history))
	for _, op := range history {
		out, isOutcome := op.Output.(Outcome)
		req, isRequest := op.Input.(api.RequestOp)
		if isOutcome && isRequest && out.Unknown && readOnly(req) {
			continue
		}
		kept = append(kept, op)
	}
	return kept
}

// readOnly reports whether req can never change the store.
func readOnly(req api.RequestOp) bool {
	switch req.Request().(type) {
	case *api.RangeRequest:
		return true
	case *api.TxnRequest:
		for op := range req.Txn.Ops() {
			switch op.(type) {
			case *api.PutRequest, *api.DeleteRangeRequest:
				return false
			}
		}
		return true
	}
	return false
}

func writeVisualization(model porcupine.Model, info porcupine.LinearizationInfo, dir string) (string, error) {
	if dir == "" {
		dir = os.TempDir()
	}
	f, err := os.CreateTemp(dir, "cairn-linearizability-*.html")
	if err != nil {
		return "", err
	}
	if err := porcupine.Visualize(model, info, f); err != nil {
		f.Close()
		return "", fmt.Errorf("%s: %w", f.Name(), err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("%s: %w", f.Name(), err)
	}
	return f.Name(), nil
}

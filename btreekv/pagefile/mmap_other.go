//go:build !linux && !darwin

package pagefile

import "github.com/cairndb/cairn/internal/fsx"

// defaultMapStep is unused where reads are not mapped.
const defaultMapStep = 0

// mapReads returns f: reads are system calls where mapping is not built.
func mapReads(f fsx.File, _ int64) fsx.File { return f }

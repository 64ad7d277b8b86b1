// Package e2e holds the end-to-end tests: they build cmd/node and
// cmd/ctl, start members as processes, and drive them through the
// command line exactly as the README shows.
package e2e

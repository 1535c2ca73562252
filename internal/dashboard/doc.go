// Package dashboard serves the mesh dashboard: the web UI (assets embedded in
// the binary) and the API that feeds it topology and golden signals.
package dashboard

// Package version reports the build's version, stamped at link time by the
// Makefile (-ldflags -X), so every binary and its metrics say what they are.
package version

import (
	"fmt"
	"runtime"
)

// Set at link time; see the Makefile's LDFLAGS.
var (
	version = "dev"
	commit  = "unknown"
)

// Info describes one build.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	return Info{
		Version:   version,
		Commit:    commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String is the one-line form printed by "<binary> version".
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}

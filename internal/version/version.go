// Package version reports the build's version, stamped at link time by the
// Makefile (-ldflags -X), so every binary and its metrics say what they are.
package version

import (
	"fmt"
	"runtime"
	"strings"
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

// ImageTag is the container image tag of this release: the version, or
// "latest" for a development build that was not stamped.
func (i Info) ImageTag() string {
	if i.Version == "dev" || i.Version == "" {
		return "latest"
	}
	// Image tags allow [A-Za-z0-9_.-]; semver build metadata uses "+".
	return strings.ReplaceAll(i.Version, "+", "_")
}

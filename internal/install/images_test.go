package install_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestDockerfiles checks what can be checked of the images without a
// container engine: multi-stage builds of static binaries, a minimal final
// base, a numeric non-root user (so that runAsNonRoot can verify it), and
// the build of the package the image is named after.
func TestDockerfiles(t *testing.T) {
	root := repoRoot(t)
	tests := map[string]struct {
		base  *regexp.Regexp
		user  int
		entry string
	}{
		"plexus-operator": {base: regexp.MustCompile(`^gcr\.io/distroless/static-debian\d+:nonroot$`), user: 65532, entry: "/plexus-operator"},
		// Debian slim for iptables-restore (plexus-proxy init).
		"plexus-proxy": {base: regexp.MustCompile(`^debian:\d+-slim$`), user: 1337, entry: "/usr/local/bin/plexus-proxy"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(root, "cmd", name, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			var froms []string
			var user, entry string
			for _, line := range strings.Split(string(data), "\n") {
				fields := strings.Fields(line)
				if len(fields) < 2 {
					continue
				}
				switch fields[0] {
				case "FROM":
					froms = append(froms, fields[len(fields)-1])
					if fields[len(fields)-2] == "AS" {
						froms[len(froms)-1] = fields[len(fields)-3]
					}
				case "USER":
					user = fields[1]
				case "ENTRYPOINT":
					entry = strings.Join(fields[1:], " ")
				}
			}
			text := string(data)
			switch {
			case len(froms) < 2:
				t.Errorf("FROM %v: want a build stage and a runtime stage", froms)
			case !tc.base.MatchString(froms[len(froms)-1]):
				t.Errorf("runtime base %s, want %s", froms[len(froms)-1], tc.base)
			}
			if !strings.Contains(text, "CGO_ENABLED=0") || !strings.Contains(text, "./cmd/"+name) {
				t.Errorf("the build stage does not build ./cmd/%s statically (CGO_ENABLED=0)", name)
			}
			if uid, err := strconv.Atoi(strings.Split(user, ":")[0]); err != nil || uid != tc.user {
				t.Errorf("USER %q, want the numeric non-root %d", user, tc.user)
			}
			if entry != `["`+tc.entry+`"]` {
				t.Errorf("ENTRYPOINT %s, want [%q]", entry, tc.entry)
			}
		})
	}
}

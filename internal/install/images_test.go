package install_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// stage is one stage of a Dockerfile.
type stage struct {
	base, user, entry string
	text              string
}

func dockerfileStages(t *testing.T, path string) map[string]*stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stages := map[string]*stage{}
	var cur *stage
	for _, line := range strings.Split(string(data), "\n") {
		fields := strings.Fields(line)
		if len(fields) >= 4 && fields[0] == "FROM" && strings.EqualFold(fields[len(fields)-2], "AS") {
			cur = &stage{base: fields[len(fields)-3]}
			stages[fields[len(fields)-1]] = cur
			continue
		}
		if cur == nil || len(fields) < 2 {
			continue
		}
		cur.text += line + "\n"
		switch fields[0] {
		case "USER":
			cur.user = fields[1]
		case "ENTRYPOINT":
			cur.entry = strings.Join(fields[1:], " ")
		}
	}
	return stages
}

// TestDockerfile checks what can be checked of the images without a
// container engine: one build stage of static binaries, and per image a
// minimal base, a numeric non-root user (so that runAsNonRoot can verify
// it) and the binary as entrypoint.
func TestDockerfile(t *testing.T) {
	stages := dockerfileStages(t, filepath.Join(repoRoot(t), "Dockerfile"))
	build := stages["build"]
	if build == nil || !strings.Contains(build.text, "CGO_ENABLED=0") {
		t.Fatal("no build stage making static binaries (CGO_ENABLED=0)")
	}
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
			s := stages[name]
			if s == nil {
				t.Fatalf("no target %s", name)
			}
			if !strings.Contains(build.text, "./cmd/"+name) {
				t.Errorf("the build stage does not build ./cmd/%s", name)
			}
			if !tc.base.MatchString(s.base) {
				t.Errorf("base %s, want %s", s.base, tc.base)
			}
			if uid, err := strconv.Atoi(strings.Split(s.user, ":")[0]); err != nil || uid != tc.user {
				t.Errorf("USER %q, want the numeric non-root %d", s.user, tc.user)
			}
			if s.entry != `["`+tc.entry+`"]` || !strings.Contains(s.text, "COPY --from=build /out/"+name+" "+tc.entry) {
				t.Errorf("ENTRYPOINT %s: want the built %s at %s", s.entry, name, tc.entry)
			}
		})
	}
}

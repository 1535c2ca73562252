package version

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

func TestCommand(t *testing.T) {
	tests := map[string]struct {
		args    []string
		check   func(t *testing.T, out string)
		wantErr string
	}{
		"one line": {
			check: func(t *testing.T, out string) {
				if !strings.HasPrefix(out, "plexctl dev (commit unknown, go") {
					t.Errorf("output %q does not start with the binary, version and commit", out)
				}
			},
		},
		"json": {
			args: []string{"-o", "json"},
			check: func(t *testing.T, out string) {
				var info Info
				if err := json.Unmarshal([]byte(out), &info); err != nil {
					t.Fatalf("output is not JSON: %v\n%s", err, out)
				}
				if info != Get() {
					t.Errorf("got %+v, want %+v", info, Get())
				}
			},
		},
		"unknown format": {args: []string{"-o", "xml"}, wantErr: `unknown output format "xml"`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cmd := Command("plexctl")
			var out bytes.Buffer
			cmd.SetOut(&out)
			cmd.SetErr(&out)
			cmd.SetArgs(tc.args)
			err := cmd.Execute()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, out.String())
		})
	}
}

package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// apiFlags are how plexctl reaches a control plane and prints what it gets.
type apiFlags struct {
	server  string
	output  string
	timeout time.Duration
}

// maxResponse bounds what plexctl reads from the control plane.
const maxResponse = 64 << 20

// defaultServer is the control plane's dashboard address unless
// PLEXUS_SERVER or --server say otherwise.
const defaultServer = "http://127.0.0.1:15080"

func (f *apiFlags) bind(cmd *cobra.Command) {
	cmd.PersistentFlags().StringVar(&f.server, "server", cmp.Or(os.Getenv("PLEXUS_SERVER"), defaultServer),
		"the control plane's dashboard address (--dashboard-address; in Kubernetes: kubectl -n plexus-system port-forward deploy/plexus-operator 15080); env PLEXUS_SERVER")
	cmd.PersistentFlags().StringVarP(&f.output, "output", "o", "table", "output format: table, json or yaml")
	cmd.PersistentFlags().DurationVar(&f.timeout, "timeout", 10*time.Second, "how long to wait for the control plane")
}

func (f *apiFlags) check() error {
	switch f.output {
	case "table", "json", "yaml":
	default:
		return fmt.Errorf("--output %q: use table, json or yaml", f.output)
	}
	u, err := url.Parse(f.server)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("--server %q: want a URL such as %s", f.server, defaultServer)
	}
	return nil
}

// get fetches path from the control plane into v; raw, when non-nil,
// receives the body as it came.
func (f *apiFlags) get(ctx context.Context, path string, v any) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	u := strings.TrimSuffix(f.server, "/") + path
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("reaching the control plane at %s: %w (is it running? point --server or PLEXUS_SERVER at its --dashboard-address)", f.server, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse+1))
	if err != nil {
		return nil, err
	}
	if len(body) > maxResponse {
		return nil, fmt.Errorf("GET %s: the answer is larger than %d MiB", u, maxResponse>>20)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("the control plane says: %s", e.Error)
		}
		return nil, fmt.Errorf("GET %s: %s", u, resp.Status)
	}
	if v != nil {
		if err := json.Unmarshal(body, v); err != nil {
			return nil, fmt.Errorf("reading %s: %w (is --server a Plexus control plane?)", u, err)
		}
	}
	return body, nil
}

// print writes v as JSON or YAML, or calls table for the table format.
func (f *apiFlags) print(w io.Writer, v any, table func(tw *tabwriter.Writer)) error {
	switch f.output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

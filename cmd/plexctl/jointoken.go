package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"github.com/spiffe/go-spiffe/v2/spiffeid"

	"github.com/plexus-mesh/plexus/internal/identity"
)

func newJoinTokenCommand() *cobra.Command {
	var (
		caDir, namespace, serviceAccount string
		ttl                              time.Duration
	)
	cmd := &cobra.Command{
		Use:   "join-token",
		Short: "Mint a join token for a proxy in local mode",
		Long: `join-token prints a short-lived token that proves one workload identity,
spiffe://<trust domain>/ns/<namespace>/sa/<service account>, to a local-mode
control plane. Give it to the proxy with --credential-file. It is signed with
the key kept beside the control plane's CA (--ca-dir), so only someone who can
read that directory can mint one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if namespace == "" || serviceAccount == "" {
				return errors.New("--namespace and --service-account are required: together they name the identity")
			}
			roots, err := os.ReadFile(filepath.Join(caDir, identity.FileRoots))
			if err != nil {
				return fmt.Errorf("reading the CA in %s: %w (point --ca-dir at the control plane's --ca-dir)", caDir, err)
			}
			certs, err := identity.ParseCertificates(roots)
			if err != nil {
				return fmt.Errorf("%s: %w", filepath.Join(caDir, identity.FileRoots), err)
			}
			td, err := spiffeid.TrustDomainFromString(identity.TrustDomainOf(certs[0]))
			if err != nil {
				return fmt.Errorf("the CA in %s names no trust domain: %w", caDir, err)
			}
			key, err := identity.JoinKey(caDir)
			if err != nil {
				return err
			}
			id, err := identity.WorkloadID(td, namespace, serviceAccount)
			if err != nil {
				return fmt.Errorf("identity for namespace %q and service account %q: %w", namespace, serviceAccount, err)
			}
			token, err := identity.MintJoinToken(key, id, ttl, time.Now())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), token)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&caDir, "ca-dir", "", "the local control plane's CA directory (its --ca-dir; default: .ca in its --local directory)")
	f.StringVar(&namespace, "namespace", "", "namespace of the workload")
	f.StringVar(&serviceAccount, "service-account", "", "service account of the workload")
	f.DurationVar(&ttl, "ttl", time.Hour, "how long the token proves the identity (at most 24h); the proxy needs it only to obtain and renew certificates")
	_ = cmd.MarkFlagRequired("ca-dir")
	return cmd
}

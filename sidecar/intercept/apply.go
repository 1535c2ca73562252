package intercept

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
)

// Apply installs the rules in the current network namespace with
// iptables-restore, leaving other rules alone. Rules from an earlier run are
// removed first, so Apply can be repeated.
func Apply(ctx context.Context, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := Remove(ctx); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "iptables-restore", "--noflush")
	cmd.Stdin = strings.NewReader(Rules(c))
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("iptables-restore: %w: %s (run as root or with CAP_NET_ADMIN; the iptables package must be installed)", err, bytes.TrimSpace(out))
	}
	return nil
}

// Remove deletes every rule and chain Apply installed. Removing what is not
// there is not an error.
func Remove(ctx context.Context) error {
	if _, err := exec.LookPath("iptables"); err != nil {
		return errors.New("iptables is not installed: install the iptables package")
	}
	run := func(args ...string) error {
		out, err := exec.CommandContext(ctx, "iptables", append([]string{"-w", "-t", "nat"}, args...)...).CombinedOutput()
		if err != nil {
			return fmt.Errorf("iptables %s: %w: %s", strings.Join(args, " "), err, bytes.TrimSpace(out))
		}
		return nil
	}
	exists := func(chain string) bool { return run("-S", chain) == nil }
	var errs []error
	// Unhook the jumps, as often as they were added.
	for _, j := range []struct{ from, to string }{{"PREROUTING", chainInbound}, {"OUTPUT", chainOutput}} {
		for run("-C", j.from, "-p", "tcp", "-j", j.to) == nil {
			if err := run("-D", j.from, "-p", "tcp", "-j", j.to); err != nil {
				errs = append(errs, err)
				break
			}
		}
	}
	for _, ch := range []string{chainInbound, chainOutput, chainInboundRedirect, chainRedirect} {
		if !exists(ch) {
			continue
		}
		if err := run("-F", ch); err != nil {
			errs = append(errs, err)
		}
	}
	for _, ch := range []string{chainInbound, chainOutput, chainInboundRedirect, chainRedirect} {
		if !exists(ch) {
			continue
		}
		if err := run("-X", ch); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

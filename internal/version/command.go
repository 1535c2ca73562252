package version

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
)

// Command returns the "version" subcommand shared by every Plexus binary.
func Command(binary string) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of " + binary,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			info := Get()
			switch output {
			case "":
				_, err := fmt.Fprintf(cmd.OutOrStdout(), "%s %s\n", binary, info)
				return err
			case "json":
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(info)
			default:
				return fmt.Errorf("unknown output format %q: use -o json, or omit -o for one line", output)
			}
		},
	}
	cmd.Flags().StringVarP(&output, "output", "o", "", `output format: "json", or empty for one line`)
	return cmd
}

package cli

import "github.com/spf13/cobra"

// newDevCommand groups the commands that help develop and try Fledge locally.
func newDevCommand(streams Streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Tools for local development: a local Kubernetes control plane",
	}
	cmd.AddCommand(newDevClusterCommand(streams))
	return cmd
}

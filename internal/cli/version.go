package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/internal/version"
)

type versionOptions struct {
	output     string
	clientOnly bool
}

// versionReport is the -o json|yaml form of fledge version.
type versionReport struct {
	Client version.Info  `json:"client" yaml:"client"`
	Server *version.Info `json:"server,omitempty" yaml:"server,omitempty"`
}

// newVersionCommand prints this binary's build and, when a server is
// configured, the server's.
func newVersionCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &versionOptions{}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of this fledge binary and of the server",
		Long: `Print the version, git revision, build date and Go version of this fledge
binary. When a server is configured (--server, $FLEDGE_SERVER or fledge
login), the server's build is printed too; --client prints this binary's
only.`,
		Example: `  fledge version --client
  fledge version -o json`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runVersion(cmd, streams, g, o)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&o.clientOnly, "client", false, "print this binary's version only; do not ask the server")
	addOutputFlag(f, &o.output, outputJSON, outputYAML)
	return clientCommand(cmd, cobra.NoArgs)
}

func runVersion(cmd *cobra.Command, streams Streams, g *globalOptions, o *versionOptions) error {
	if err := checkOutput(o.output, outputJSON, outputYAML); err != nil {
		return err
	}
	rep := versionReport{Client: version.Get()}
	var serverErr error
	if !o.clientOnly {
		configured, err := g.serverConfigured()
		if err != nil {
			return err
		}
		if configured {
			c, err := g.client()
			if err != nil {
				return err
			}
			info, err := c.Version(cmd.Context())
			if err != nil {
				serverErr = fmt.Errorf("%s: %w", c.Server(), err)
			} else {
				rep.Server = &info
			}
		}
	}
	if o.output != "" {
		if err := printData(streams.Out, o.output, rep); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(streams.Out, "Client: %s\n", rep.Client)
		if rep.Server != nil {
			fmt.Fprintf(streams.Out, "Server: %s\n", *rep.Server)
		}
	}
	return serverErr
}

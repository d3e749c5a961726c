package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

// newAnalysisCommand prints the analysis measurements of a deployment.
func newAnalysisCommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn())),
		Use:               "analysis ID [-o json|yaml]",
		Short:             "Print a deployment's analysis measurements",
		Long: `Print the measurements the deployment's analyses took, in order, one a
line: TIME  ANALYSIS  TEMPLATE/METRIC  PHASE  VALUE  MESSAGE. PHASE is
Successful, Failed, Inconclusive, or Error when the metric source did not
answer. ID is the deployment's id or PIPELINE#NUMBER.`,
		Example: `  fledge analysis webpage#3
  fledge analysis 42 -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAnalysis(cmd.Context(), streams, g, output, args[0])
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

func runAnalysis(ctx context.Context, streams Streams, g *globalOptions, output, arg string) error {
	if err := checkOutput(output, outputJSON, outputYAML); err != nil {
		return err
	}
	c, id, err := g.deployment(ctx, arg)
	if err != nil {
		return err
	}
	ms, err := c.Measurements(ctx, id)
	if err != nil {
		return err
	}
	if output != "" {
		return printData(streams.Out, output, v1alpha1.MeasurementList{Items: nonNil(ms)})
	}
	if len(ms) == 0 {
		fmt.Fprintf(streams.ErrOut, "No measurements for deployment %s.\n", arg)
		return nil
	}
	loc := nowFrom(ctx).Location()
	t := newTable(streams.Out, "TIME", "ANALYSIS", "TEMPLATE/METRIC", "PHASE", "VALUE", "MESSAGE")
	for _, m := range ms {
		t.row(m.StartedAt.In(loc).Format(time.RFC3339), m.Analysis, m.Template+"/"+m.Metric, string(m.Phase), orDash(m.Value), orDash(m.Message))
	}
	return t.flush()
}

// deployment resolves a deployment argument (an id or PIPELINE#NUMBER)
// through the server and returns the client that asked.
func (g *globalOptions) deployment(ctx context.Context, arg string) (*apiclient.Client, int64, error) {
	ref, err := parseDeploymentRef(arg)
	if err != nil {
		return nil, 0, err
	}
	c, err := g.client()
	if err != nil {
		return nil, 0, err
	}
	id, err := c.DeploymentID(ctx, ref)
	if err != nil {
		return nil, 0, err
	}
	return c, id, nil
}

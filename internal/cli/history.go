package cli

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

type historyOptions struct {
	output string
	limit  int
}

// newHistoryCommand lists a pipeline's deployments with what a person
// needs to choose a rollback target: version, who approved, when, and
// which one is live.
func newHistoryCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &historyOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(namesOf(v1alpha1.KindPipeline))),
		Use:               "history PIPELINE [--limit N] [-o table|wide|json|yaml]",
		Short:             "List a pipeline's deployments, newest first; * marks the one live in production",
		Example: `  fledge history webpage-canary-deployment-pipeline
  fledge rollback webpage-canary-deployment-pipeline --to 42 --dry-run`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runHistory(cmd.Context(), streams, g, o, args[0])
		},
	}
	f := cmd.Flags()
	addOutputFlag(f, &o.output, outputTable, outputWide, outputJSON, outputYAML)
	f.IntVar(&o.limit, "limit", 20, "how many deployments to list, newest first (1 to 500)")
	return clientCommand(cmd, argsBetween(1, 1, "the PIPELINE"))
}

func runHistory(ctx context.Context, streams Streams, g *globalOptions, o *historyOptions, pipeline string) error {
	if err := checkOutput(o.output, outputTable, outputWide, outputJSON, outputYAML); err != nil {
		return err
	}
	if o.limit < 1 || o.limit > 500 {
		return usageErrorf("--limit must be between 1 and 500, got %d", o.limit)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	list, err := c.ListDeployments(ctx, apiclient.ListOptions{Pipeline: pipeline, Limit: o.limit})
	if err != nil {
		return err
	}
	if o.output == outputJSON || o.output == outputYAML {
		list.Items = nonNil(list.Items)
		return printData(streams.Out, o.output, list)
	}
	if len(list.Items) == 0 {
		// Tell a pipeline without deployments from one that does not exist.
		var p v1alpha1.Pipeline
		if err := c.GetResource(ctx, v1alpha1.KindPipeline, pipeline, &p); err != nil {
			return err
		}
		fmt.Fprintf(streams.ErrOut, "No deployments of pipeline %s yet.\n", pipeline)
		return nil
	}
	now := nowFrom(ctx)
	if err := printList(streams.Out, o.output, list, list.Items, columns[v1alpha1.Deployment]{
		headers: []string{"ID", "NUMBER", "KIND", "STATUS", "PARAMETERS", "TRIGGERED BY", "APPROVED BY", "STARTED", "ENDED", "LIVE"},
		wide:    []string{"MESSAGE"},
		row: func(d v1alpha1.Deployment, wide bool) []string {
			row := []string{
				strconv.FormatInt(d.ID, 10), fmt.Sprintf("#%d", d.Number), kindOf(d), string(d.Status),
				orDash(v1alpha1.FormatParameters(d.Parameters, ",")), orDash(d.TriggeredBy), orDash(approvers(d)),
				age(now, d.StartedAt), age(now, d.EndedAt), liveCell(d),
			}
			if wide {
				row = append(row, orDash(d.Message))
			}
			return row
		},
	}); err != nil {
		return err
	}
	if list.NextBefore != 0 {
		fmt.Fprintf(streams.ErrOut, "Showing the newest %d of %d deployments; use --limit to see more.\n", len(list.Items), list.Total)
	}
	return nil
}

// approvers lists who approved a deployment, in order.
func approvers(d v1alpha1.Deployment) string {
	var users []string
	for _, x := range d.Decisions {
		if x.Decision == v1alpha1.DecisionApprove {
			users = append(users, x.User)
		}
	}
	return strings.Join(users, ",")
}

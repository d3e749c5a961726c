package cli

import (
	"context"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
)

type decideOptions struct {
	reason string
}

// newApproveCommand approves a deployment waiting at its approval stage:
// the traffic switch of the canary strategy.
func newApproveCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		Use:     "approve ID [--reason TEXT]",
		Short:   "Approve a deployment waiting for approval, releasing it to production",
		Example: `  fledge approve 42 --reason "canary looks healthy"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDecide(cmd.Context(), streams, g, v1alpha1.DecisionApprove, args[0], o.reason)
		},
	}
	cmd.Flags().StringVar(&o.reason, "reason", "", "why, recorded with the decision")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

// newRejectCommand rejects a deployment waiting for approval: the canary
// gets no more traffic and production is left as it is.
func newRejectCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		Use:     "reject ID --reason TEXT",
		Short:   "Reject a deployment waiting for approval; production is left as it is",
		Example: `  fledge reject 43 --reason "checkout page renders red"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.reason) == "" {
				return usageErrorf("reject needs --reason: say why, it is recorded with the decision")
			}
			return runDecide(cmd.Context(), streams, g, v1alpha1.DecisionReject, args[0], o.reason)
		},
	}
	cmd.Flags().StringVar(&o.reason, "reason", "", "why (required), recorded with the decision")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

func runDecide(ctx context.Context, streams Streams, g *globalOptions, kind v1alpha1.DecisionKind, arg, reason string) error {
	id, err := parseDeploymentID(arg)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	var d v1alpha1.Deployment
	verb := "approved"
	if kind == v1alpha1.DecisionReject {
		verb = "rejected"
		d, err = c.Reject(ctx, id, reason)
	} else {
		d, err = c.Approve(ctx, id, reason)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(streams.Out, "deployment/%d %s\n", id, verb)
	if kind == v1alpha1.DecisionApprove && d.Status == v1alpha1.StatusWaitingForApproval {
		// More approvals are required at this stage.
		fmt.Fprintf(streams.ErrOut, "deployment/%d is still waiting for approval at %s\n", id, d.CurrentStage)
	}
	return nil
}

// newCancelCommand asks the server to cancel a queued or running
// deployment.
func newCancelCommand(streams Streams, g *globalOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cancel ID",
		Short: "Cancel a queued or running deployment",
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseDeploymentID(args[0])
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			d, err := c.Cancel(cmd.Context(), id)
			if err != nil {
				return err
			}
			if d.Status == v1alpha1.StatusCancelled {
				fmt.Fprintf(streams.Out, "deployment/%d cancelled\n", id)
			} else {
				fmt.Fprintf(streams.Out, "deployment/%d cancellation requested\n", id)
			}
			return nil
		},
	}
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

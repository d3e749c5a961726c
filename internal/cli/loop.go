package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
)

// The commands of people in the loop of a running release, beside approve
// and reject: abort (cancel), resume, retry.

// unfinished are the statuses of a deployment that can still be stopped.
var unfinished = []v1alpha1.DeploymentStatus{v1alpha1.StatusQueued, v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval}

// newCancelCommand and newAbortCommand stop a queued or running deployment.
func newCancelCommand(streams Streams, g *globalOptions) *cobra.Command {
	return stopCommand(streams, g, "cancel", "Cancel a queued or running deployment (the same as abort)")
}

func newAbortCommand(streams Streams, g *globalOptions) *cobra.Command {
	return stopCommand(streams, g, "abort", "Abort a deployment: the canary's weight goes back to 0, production is left as it is (or restored)")
}

func stopCommand(streams Streams, g *globalOptions, verb, short string) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(unfinished...))),
		Use:               verb + " ID|PIPELINE#NUMBER [--reason TEXT]",
		Short:             short,
		Long: short + `.

The canary's weight is set back to 0 and read back; if the run had begun to
release production, production is restored to the release it ran before. The
deployment ends Cancelled; the reason is recorded with the request.`,
		Example: fmt.Sprintf(`  fledge %s 42 --reason "error rate rising on the canary"`, verb),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := g.deployment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d, err := c.Cancel(cmd.Context(), id, reason)
			if err != nil {
				return err
			}
			if d.Status == v1alpha1.StatusCancelled {
				fmt.Fprintf(streams.Out, "%s cancelled\n", deploymentName(d))
			} else {
				fmt.Fprintf(streams.Out, "%s cancellation requested\n", deploymentName(d))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why, recorded with the request")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

// newResumeCommand lets a paused deployment go on.
func newResumeCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval))),
		Use:               "resume ID|PIPELINE#NUMBER [--reason TEXT] [--wait [--timeout DURATION]]",
		Short:             "Let a deployment paused at a canary step go on",
		Long: `Let a deployment paused at a pause step of a canarySteps stage go on: a pause
without a duration waits for this; a timed pause ends now. A deployment that
waits for an approval or is not paused is refused, saying what it waits for.
With --wait, follow the release until it ends or waits for people again.`,
		Example: `  fledge resume webpage-progressive#3 --reason "dashboards look fine"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runResume(cmd.Context(), streams, g, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why, recorded with the decision")
	addWaitFlags(f, &o.wait, &o.timeout, "follow the release until it ends or waits for people again")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

func runResume(ctx context.Context, streams Streams, g *globalOptions, arg string, o *decideOptions) error {
	c, id, before, err := beforeActing(ctx, g, arg, o)
	if err != nil {
		return err
	}
	d, err := c.Resume(ctx, id, o.reason)
	if err != nil {
		return err
	}
	// The gate of the resume, which the executor may have left already.
	gate := decidedAt(d)
	fmt.Fprintf(streams.Out, "%s resumed at %s\n", deploymentName(d), gate)
	if !o.wait {
		return nil
	}
	final, err := followFrom(ctx, streams.Out, c, d, before, o.timeout, gate)
	if err != nil {
		return err
	}
	return reportOutcome(streams.Out, final)
}

// newPromoteCommand skips what is left before the production release.
func newPromoteCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval))),
		Use:               "promote ID|PIPELINE#NUMBER [--reason TEXT] [--wait [--timeout DURATION]]",
		Short:             "Skip the steps left before the production release and release the canary",
		Long: `Skip what is left of a release before its production release: the rest of the
ramp or of the canary steps (weights, pauses, analyses, approval steps) and
any approval stage, then release the canary to production as an approval
would. An approval that keeps out who triggered the run (four eyes) keeps
them out of promoting it too. The reason is recorded with the promotion.
With --wait, follow the release until it ends.`,
		Example: `  fledge promote webpage-progressive#3 --reason "hotfix, verified by hand"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			c, id, before, err := beforeActing(ctx, g, args[0], o)
			if err != nil {
				return err
			}
			d, err := c.Promote(ctx, id, o.reason)
			if err != nil {
				return err
			}
			fmt.Fprintf(streams.Out, "%s promoted: the steps left before production are skipped\n", deploymentName(d))
			if !o.wait {
				return nil
			}
			final, err := followFrom(ctx, streams.Out, c, d, before, o.timeout, d.CurrentStage)
			if err != nil {
				return err
			}
			return reportOutcome(streams.Out, final)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why, recorded with the promotion")
	addWaitFlags(f, &o.wait, &o.timeout, "follow the release until it ends")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

// newRetryCommand runs a failed, cancelled or rejected release again.
func newRetryCommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(v1alpha1.StatusFailed, v1alpha1.StatusCancelled, v1alpha1.StatusRejected))),
		Use:               "retry ID|PIPELINE#NUMBER [-o json|yaml]",
		Short:             "Run a failed, cancelled or rejected release again, with the same plan",
		Long: `Run a failed, cancelled or rejected release again as a new deployment, from its
canary deployment, with the same plan: the manifests, parameters and analysis
templates as they were when it was created, whatever the pipeline says now.
The pipeline's queue applies as for run.`,
		Example: `  fledge retry webpage-progressive#3`,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, id, err := g.deployment(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			d, err := c.Retry(cmd.Context(), id)
			if err != nil {
				return err
			}
			if output != "" {
				return printData(streams.Out, output, d)
			}
			fmt.Fprintf(streams.Out, "%s created, retrying deployment %d\n", deploymentName(d), id)
			return nil
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

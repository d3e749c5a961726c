package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

type decideOptions struct {
	reason  string
	wait    bool
	timeout time.Duration
}

// newApproveCommand approves a deployment waiting at its approval stage:
// the traffic switch of the canary strategy.
func newApproveCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(v1alpha1.StatusWaitingForApproval))),
		Use:               "approve ID|PIPELINE#NUMBER [--reason TEXT] [--wait [--timeout DURATION]]",
		Short:             "Approve a deployment waiting for approval, releasing it to production",
		Long: `Approve a deployment waiting at an approval stage. The answer says what the
approval did: how many of the stage's required approvals are recorded, or that
the release continues. With --wait, follow the release until it ends (or
waits at a later approval stage); the exit code is 0 if it succeeded.`,
		Example: `  fledge approve 42 --reason "canary looks healthy"
  fledge approve webpage-canary-deployment-pipeline#6 --wait`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDecide(cmd.Context(), streams, g, v1alpha1.DecisionApprove, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why, recorded with the decision")
	addWaitFlags(f, &o.wait, &o.timeout, "follow the release until it ends")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

// newRejectCommand rejects a deployment waiting for approval: the canary
// gets no more traffic and production is left as it is.
func newRejectCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &decideOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(deploymentsIn(v1alpha1.StatusWaitingForApproval))),
		Use:               "reject ID|PIPELINE#NUMBER --reason TEXT [--wait [--timeout DURATION]]",
		Short:             "Reject a deployment waiting for approval; production is left as it is",
		Example:           `  fledge reject 43 --reason "checkout page renders red"`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(o.reason) == "" {
				return usageErrorf("reject needs --reason: say why, it is recorded with the decision")
			}
			return runDecide(cmd.Context(), streams, g, v1alpha1.DecisionReject, args[0], o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.reason, "reason", "", "why (required), recorded with the decision")
	addWaitFlags(f, &o.wait, &o.timeout, "follow the deployment until the canary is taken out of traffic and it ends")
	return clientCommand(cmd, argsBetween(1, 1, "the deployment ID"))
}

func runDecide(ctx context.Context, streams Streams, g *globalOptions, kind v1alpha1.DecisionKind, arg string, o *decideOptions) error {
	c, id, before, err := beforeActing(ctx, g, arg, o)
	if err != nil {
		return err
	}
	var d v1alpha1.Deployment
	if kind == v1alpha1.DecisionReject {
		d, err = c.Reject(ctx, id, o.reason)
	} else {
		d, err = c.Approve(ctx, id, o.reason)
	}
	if err != nil {
		return err
	}
	stage, done := describeDecision(streams.Out, kind, d)
	if !o.wait {
		return nil
	}
	if !done {
		fmt.Fprintf(streams.ErrOut, "not waiting: %s still waits for approval at %s\n", deploymentName(d), stage)
		return nil
	}
	final, err := followFrom(ctx, streams.Out, c, d, before, o.timeout, stage)
	if err != nil {
		return err
	}
	if kind == v1alpha1.DecisionReject && final.Status == v1alpha1.StatusRejected {
		fmt.Fprintf(streams.Out, "%s ended: rejected\n", deploymentName(final))
		return nil
	}
	return reportOutcome(streams.Out, final)
}

// beforeActing checks the wait flags, finds the deployment arg names and,
// when the command will follow it after acting (--wait), reads its events
// so far, so that it prints only what comes after its act.
func beforeActing(ctx context.Context, g *globalOptions, arg string, o *decideOptions) (*apiclient.Client, int64, []v1alpha1.Event, error) {
	if err := checkWaitFlags(o.wait, o.timeout); err != nil {
		return nil, 0, nil, err
	}
	c, id, err := g.deployment(ctx, arg)
	if err != nil || !o.wait {
		return c, id, nil, err
	}
	before, err := c.Events(ctx, id, 0)
	return c, id, before, err
}

// followFrom prints the events of d after before until it ends or waits
// for people at a gate other than stage, where it was acted on (the
// executor may not have left that gate yet).
func followFrom(ctx context.Context, out io.Writer, c *apiclient.Client, d v1alpha1.Deployment, before []v1alpha1.Event, timeout time.Duration, stage string) (v1alpha1.Deployment, error) {
	p := newEventPrinter(out, nowFrom(ctx).Location(), false)
	p.fitStages(d.Stages)
	if len(before) > 0 {
		p.last = before[len(before)-1].Seq
	}
	return waitWithTimeout(ctx, c, d, p, timeout, func(x v1alpha1.Deployment) bool { return x.CurrentStage != stage })
}

// decidedAt is the stage or gate of the deployment's latest decision, the
// one just made: the deployment may have moved on from it by the time the
// server answered. Without decisions it is the current stage.
func decidedAt(d v1alpha1.Deployment) string {
	var last *v1alpha1.Decision
	for i := range d.Decisions {
		if last == nil || !d.Decisions[i].At.Before(last.At) {
			last = &d.Decisions[i]
		}
	}
	if last == nil {
		return d.CurrentStage
	}
	return last.Stage
}

// describeDecision says what a decision did, from the deployment the
// server answered with: the stage it was made at, and whether the stage
// is done (a rejection, or the last approval it needs).
func describeDecision(w io.Writer, kind v1alpha1.DecisionKind, d v1alpha1.Deployment) (stage string, done bool) {
	name := deploymentName(d)
	stage = decidedAt(d)
	if kind == v1alpha1.DecisionReject {
		fmt.Fprintf(w, "%s rejected at %s: the canary gets no more traffic and production is left as it is\n", name, stage)
		return stage, true
	}
	approvers := map[string]bool{}
	for _, x := range d.Decisions {
		if x.Stage == stage && x.Decision == v1alpha1.DecisionApprove {
			approvers[x.User] = true
		}
	}
	need := 0
	for _, st := range d.Stages {
		if st.Name == stage {
			need = st.ApprovalsRequired
		}
	}
	if d.ApprovalsRequired > 0 && d.CurrentStage == stage {
		need = d.ApprovalsRequired
	}
	switch {
	case need == 0:
		// A deployment made before stages said how many they need.
		fmt.Fprintf(w, "%s: approval recorded at %s\n", name, stage)
		return stage, d.CurrentStage != stage || d.Status != v1alpha1.StatusWaitingForApproval
	case len(approvers) < need:
		fmt.Fprintf(w, "%s: approval %d of %d recorded at %s; %d more needed\n", name, len(approvers), need, stage, need-len(approvers))
		return stage, false
	}
	fmt.Fprintf(w, "%s approved at %s (%d of %d): the release continues\n", name, stage, len(approvers), need)
	return stage, true
}

// deploymentName writes a deployment as both forms that commands accept.
func deploymentName(d v1alpha1.Deployment) string {
	if d.Pipeline == "" {
		return fmt.Sprintf("deployment/%d", d.ID)
	}
	return fmt.Sprintf("deployment/%d (%s)", d.ID, d.Ref())
}

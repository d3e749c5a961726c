package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

const (
	// waitPoll is how often --wait reads the deployment between events.
	waitPoll = 2 * time.Second
	// waitDrain is how long --wait lets the event stream finish once the
	// deployment has ended.
	waitDrain = 10 * time.Second
)

type runOptions struct {
	params  []string
	wait    bool
	timeout time.Duration
	output  string
}

// newRunCommand starts a deployment of a pipeline, as the last step of a
// CI build does.
func newRunCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &runOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, fixed(namesOf(v1alpha1.KindPipeline))),
		Use:               "run PIPELINE [--param NAME=VALUE ...] [--wait [--timeout DURATION]]",
		Short:             "Start a deployment of a pipeline",
		Long: `Start a deployment of a pipeline with parameters, such as the image tag a
build produced. With --wait, print its events until it ends or waits for
approval; the exit code is 0 if it succeeded or waits for approval, 1 otherwise
(also when --timeout runs out first; the deployment goes on).`,
		Example: `  fledge run webpage-canary-deployment-pipeline --param IMAGE_TAG=2.1
  fledge run webpage-canary-deployment-pipeline -p IMAGE_TAG=2.1 --wait --timeout 10m`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), streams, g, o, args[0])
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.params, "param", "p", nil, "a parameter of the run as NAME=VALUE (repeatable)")
	addWaitFlags(f, &o.wait, &o.timeout, "follow the deployment until it ends or waits for approval")
	addOutputFlag(f, &o.output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(1, 1, "the PIPELINE to run"))
}

// parseParams reads NAME=VALUE parameters.
func parseParams(in []string) (map[string]string, error) {
	if len(in) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(in))
	for _, kv := range in {
		k, v, ok := strings.Cut(kv, "=")
		switch {
		case !ok:
			return nil, usageErrorf("--param %q: want NAME=VALUE", kv)
		case !v1alpha1.ParameterName.MatchString(k):
			return nil, usageErrorf("--param %q: %q is not a parameter name (letters, digits and _, not starting with a digit)", kv, k)
		case !utf8.ValidString(v):
			// JSON would silently turn the bytes into U+FFFD.
			return nil, usageErrorf("--param %s: value is not valid UTF-8", k)
		}
		if _, dup := out[k]; dup {
			return nil, usageErrorf("--param %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

func runRun(ctx context.Context, streams Streams, g *globalOptions, o *runOptions, pipeline string) error {
	if err := checkOutput(o.output, outputJSON, outputYAML); err != nil {
		return err
	}
	if err := checkWaitFlags(o.wait, o.timeout); err != nil {
		return err
	}
	params, err := parseParams(o.params)
	if err != nil {
		return err
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	d, err := c.Run(ctx, pipeline, params)
	if err != nil {
		return err
	}
	if !o.wait {
		if o.output != "" {
			return printData(streams.Out, o.output, d)
		}
		fmt.Fprintf(streams.Out, "%s created\n", deploymentName(d))
		return nil
	}
	// With -o, standard output holds only the final object.
	msgs := streams.Out
	if o.output != "" {
		msgs = streams.ErrOut
	}
	fmt.Fprintf(msgs, "%s created\n", deploymentName(d))
	p := newEventPrinter(msgs, nowFrom(ctx).Location(), false)
	p.fitStages(d.Stages)
	final, err := waitWithTimeout(ctx, c, d, p, o.timeout, func(v1alpha1.Deployment) bool { return true })
	if err != nil {
		return err
	}
	if o.output != "" {
		if err := printData(streams.Out, o.output, final); err != nil {
			return err
		}
	}
	return reportOutcome(msgs, final)
}

// reportOutcome says how a waited-for deployment stands: exit code 0 if it
// succeeded or waits for approval, 1 otherwise.
func reportOutcome(w io.Writer, d v1alpha1.Deployment) error {
	switch d.Status {
	case v1alpha1.StatusSucceeded:
		fmt.Fprintf(w, "%s succeeded\n", deploymentName(d))
		return nil
	case v1alpha1.StatusWaitingForApproval:
		fmt.Fprintf(w, "%s is waiting for approval at %s (canary weight %d%%): fledge approve %d, or fledge reject %d --reason TEXT\n",
			deploymentName(d), orDash(d.CurrentStage), d.CanaryWeight, d.ID, d.ID)
		return nil
	}
	if d.Message != "" {
		return failedf("%s %s: %s", deploymentName(d), strings.ToLower(string(d.Status)), d.Message)
	}
	return failedf("%s %s", deploymentName(d), strings.ToLower(string(d.Status)))
}

// addWaitFlags declares --wait and its --timeout.
func addWaitFlags(f *pflag.FlagSet, wait *bool, timeout *time.Duration, what string) {
	f.BoolVar(wait, "wait", false, what)
	f.DurationVar(timeout, "timeout", 0, "with --wait, stop waiting after this long (0: no limit); the deployment goes on")
}

// checkWaitFlags refuses --timeout without --wait, and a negative one.
func checkWaitFlags(wait bool, timeout time.Duration) error {
	switch {
	case timeout < 0:
		return usageErrorf("--timeout %s: must not be negative", timeout)
	case timeout > 0 && !wait:
		return usageErrorf("--timeout needs --wait: it bounds how long the command follows the deployment")
	}
	return nil
}

// waitWithTimeout is waitForDeployment bounded by timeout (0: none). When
// the timeout or an interrupt stops it, the error says the deployment
// goes on and how to follow it.
func waitWithTimeout(ctx context.Context, c *apiclient.Client, d v1alpha1.Deployment, p *eventPrinter, timeout time.Duration, atApproval func(v1alpha1.Deployment) bool) (v1alpha1.Deployment, error) {
	wctx := ctx
	if timeout > 0 {
		var cancel context.CancelFunc
		wctx, cancel = context.WithTimeoutCause(ctx, timeout, errWaitTimeout)
		defer cancel()
	}
	final, err := waitForDeployment(wctx, c, d.ID, p, atApproval)
	if err == nil || wctx.Err() == nil {
		return final, err
	}
	why := "stopped waiting"
	if errors.Is(context.Cause(wctx), errWaitTimeout) && ctx.Err() == nil {
		why = fmt.Sprintf("stopped waiting after --timeout %s", timeout)
	}
	return final, failedf("%s; %s goes on (follow it with: fledge logs %d -f)", why, deploymentName(d), d.ID)
}

var errWaitTimeout = errors.New("--timeout ran out")

// waitForDeployment prints a deployment's events until it ends or waits
// for approval, and returns it as it then stands. Events come from the
// watch stream; the status is read after each event and every waitPoll,
// because waiting for approval does not end the stream.
//
// atApproval says whether a deployment waiting for approval stops the wait:
// a command that just approved still sees the stage it approved waiting
// until the executor moves on.
func waitForDeployment(ctx context.Context, c *apiclient.Client, id int64, p *eventPrinter, atApproval func(v1alpha1.Deployment) bool) (v1alpha1.Deployment, error) {
	wctx, stop := context.WithCancel(ctx)
	defer stop()
	var mu sync.Mutex // guards p while the watch runs
	kick := make(chan struct{}, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.WatchEvents(wctx, id, p.last, func(e v1alpha1.Event) error {
			mu.Lock()
			p.print(e)
			err := p.err
			mu.Unlock()
			select {
			case kick <- struct{}{}:
			default:
			}
			return err
		})
	}()

	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	var drain <-chan time.Time
	watching := true
	for watching {
		select {
		case err := <-done:
			if err != nil && wctx.Err() == nil {
				return v1alpha1.Deployment{}, err
			}
			watching = false
			continue
		case <-drain:
			stop()
			<-done
			watching = false
			continue
		case <-kick:
		case <-tick.C:
		}
		d, err := c.GetDeployment(ctx, id)
		if err != nil {
			return d, err
		}
		switch {
		case d.Status == v1alpha1.StatusWaitingForApproval && atApproval(d):
			stop()
			<-done
			watching = false
		case d.Status.Final() && drain == nil:
			// The stream ends by itself once it has sent the last events.
			drain = time.After(waitDrain)
		}
	}
	if ctx.Err() != nil {
		return v1alpha1.Deployment{}, context.Cause(ctx)
	}
	// Events the stopped watch had not delivered yet.
	mu.Lock()
	defer mu.Unlock()
	rest, err := c.Events(ctx, id, p.last)
	if err != nil {
		return v1alpha1.Deployment{}, err
	}
	for _, e := range rest {
		p.print(e)
	}
	if p.err != nil {
		return v1alpha1.Deployment{}, p.err
	}
	return c.GetDeployment(ctx, id)
}

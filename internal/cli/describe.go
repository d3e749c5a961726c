package cli

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
	"fledge.dev/fledge/internal/pipeline"
)

// describeEvents is how many of the latest events describe deployment shows.
const describeEvents = 10

// newDescribeCommand shows one resource or deployment in detail, for
// people.
func newDescribeCommand(streams Streams, g *globalOptions) *cobra.Command {
	var output string
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, kindsOf(true), namesOfKindArg),
		Use:               "describe pipeline|environment|artifact NAME | describe deployment ID",
		Short:             "Show a pipeline, resource or deployment in detail",
		Long: `Show a pipeline, resource or deployment in detail, for people. With -o json
or -o yaml, print the same facts as data: the object, and for a deployment
its events too (as {"deployment": ..., "events": [...]}).`,
		Example: `  fledge describe pipeline webpage-canary-deployment-pipeline
  fledge describe deployment 42
  fledge describe deployment webpage-canary-deployment-pipeline#6 -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkOutput(output, outputJSON, outputYAML); err != nil {
				return err
			}
			if output != "" {
				return describeData(cmd.Context(), streams, g, args, output)
			}
			return runDescribe(cmd.Context(), streams, g, args)
		},
	}
	addOutputFlag(cmd.Flags(), &output, outputJSON, outputYAML)
	return clientCommand(cmd, argsBetween(2, 2, "the kind and the name: describe pipeline NAME, or describe deployment ID"))
}

// describeTarget reads describe's arguments: the kind, a client, and for
// a deployment its id.
func describeTarget(ctx context.Context, g *globalOptions, args []string) (kind string, c *apiclient.Client, id int64, err error) {
	if kind, err = resolveKind(args[0], true); err != nil {
		return "", nil, 0, err
	}
	var ref v1alpha1.DeploymentRef
	if kind == kindDeployment {
		if ref, err = parseDeploymentRef(args[1]); err != nil {
			return "", nil, 0, err
		}
	}
	if c, err = g.client(); err != nil {
		return "", nil, 0, err
	}
	if kind == kindDeployment {
		if id, err = c.DeploymentID(ctx, ref); err != nil {
			return "", nil, 0, err
		}
	}
	return kind, c, id, nil
}

func runDescribe(ctx context.Context, streams Streams, g *globalOptions, args []string) error {
	kind, c, id, err := describeTarget(ctx, g, args)
	if err != nil {
		return err
	}
	now := nowFrom(ctx)
	d := &describer{w: streams.Out, now: now}
	switch kind {
	case kindDeployment:
		return describeDeployment(ctx, c, d, id)
	case v1alpha1.KindPipeline:
		var p v1alpha1.Pipeline
		if err := c.GetResource(ctx, kind, args[1], &p); err != nil {
			return err
		}
		list, err := c.ListDeployments(ctx, apiclient.ListOptions{Pipeline: p.Metadata.Name, Limit: 5})
		if err != nil {
			return err
		}
		if cs := p.CanaryStage(); cs != nil {
			// The ingress layout is a setting of the environment.
			var env v1alpha1.Environment
			if err := c.GetResource(ctx, v1alpha1.KindEnvironment, cs.Environment, &env); err == nil {
				rt := cs.Routing(cs.Environment, env.Spec)
				d.routing = &rt
			}
		}
		return d.pipeline(&p, list)
	case v1alpha1.KindEnvironment:
		var e v1alpha1.Environment
		if err := c.GetResource(ctx, kind, args[1], &e); err != nil {
			return err
		}
		return d.environment(&e)
	default:
		var a v1alpha1.Artifact
		if err := c.GetResource(ctx, kind, args[1], &a); err != nil {
			return err
		}
		return d.artifact(&a)
	}
}

// deploymentDescription is describe deployment -o json|yaml: the
// deployment and its whole event log.
type deploymentDescription struct {
	Deployment v1alpha1.Deployment `json:"deployment"`
	Events     []v1alpha1.Event    `json:"events"`
}

// describeData prints what describe shows as JSON or YAML.
func describeData(ctx context.Context, streams Streams, g *globalOptions, args []string, output string) error {
	kind, c, id, err := describeTarget(ctx, g, args)
	if err != nil {
		return err
	}
	if kind != kindDeployment {
		var obj map[string]any
		if err := c.GetResource(ctx, kind, args[1], &obj); err != nil {
			return err
		}
		return printData(streams.Out, output, obj)
	}
	desc, err := readDeploymentDescription(ctx, c, id)
	if err != nil {
		return err
	}
	return printData(streams.Out, output, desc)
}

// readDeploymentDescription reads a deployment and its events.
func readDeploymentDescription(ctx context.Context, c *apiclient.Client, id int64) (deploymentDescription, error) {
	dep, err := c.GetDeployment(ctx, id)
	if err != nil {
		return deploymentDescription{}, err
	}
	events, err := c.Events(ctx, id, 0)
	if err != nil {
		return deploymentDescription{}, err
	}
	if events == nil {
		events = []v1alpha1.Event{}
	}
	return deploymentDescription{Deployment: dep, Events: events}, nil
}

// describer writes "Label: value" blocks and sections.
type describer struct {
	w   io.Writer
	now time.Time
	err error
	// routing is the pipeline's traffic routing, when its environment
	// could be read.
	routing *v1alpha1.TrafficRouting
}

func (d *describer) printf(format string, args ...any) {
	if d.err == nil {
		_, d.err = fmt.Fprintf(d.w, format, args...)
	}
}

// kv writes a label and its value at an indent, values aligned.
func (d *describer) kv(indent int, label, value string) {
	pad := 26 - indent - len(label) - 1
	if pad < 1 {
		pad = 1
	}
	d.printf("%s%s:%s%s\n", strings.Repeat(" ", indent), label, strings.Repeat(" ", pad), orDash(value))
}

// table writes an indented table.
func (d *describer) table(headers []string, rows [][]string) {
	var b strings.Builder
	t := newTable(&b, headers...)
	for _, r := range rows {
		t.row(r...)
	}
	if err := t.flush(); err != nil && d.err == nil {
		d.err = err
	}
	d.printf("%s", indentLines(b.String(), "  "))
}

func (d *describer) meta(m v1alpha1.ObjectMeta) {
	d.kv(0, "Name", m.Name)
	d.kv(0, "Description", m.Description)
	labels := v1alpha1.FormatParameters(m.Labels, ",")
	d.kv(0, "Labels", labels)
	d.kv(0, "Generation", strconv.FormatInt(m.Generation, 10))
	d.kv(0, "Created", timestamp(d.now, m.CreatedAt))
	d.kv(0, "Updated", timestamp(d.now, m.UpdatedAt))
}

func (d *describer) environment(e *v1alpha1.Environment) error {
	d.meta(e.Metadata)
	d.kv(0, "Cluster", clusterOf(e.Spec))
	d.kv(0, "Context", e.Spec.Context)
	ns := "must exist beforehand"
	if e.Spec.NamespacesCreatable() {
		ns = "created as needed"
	}
	d.kv(0, "Namespaces", ns)
	return d.err
}

var placeholderRE = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func (d *describer) artifact(a *v1alpha1.Artifact) error {
	d.meta(a.Metadata)
	d.kv(0, "Size", byteSize(len(a.Spec.Manifests)))
	seen := map[string]bool{}
	var params []string
	for _, m := range placeholderRE.FindAllStringSubmatch(a.Spec.Manifests, -1) {
		if !seen[m[1]] {
			seen[m[1]] = true
			params = append(params, m[1])
		}
	}
	sort.Strings(params)
	d.kv(0, "Placeholders", strings.Join(params, ", "))
	objs, err := manifestObjects(a.Spec.Manifests)
	if err != nil {
		d.kv(0, "Objects", "the manifests are not valid YAML: "+err.Error())
		return d.err
	}
	d.printf("Objects:\n")
	for _, o := range objs {
		d.printf("  %s\n", o)
	}
	return d.err
}

func (d *describer) pipeline(p *v1alpha1.Pipeline, recent v1alpha1.DeploymentList) error {
	d.meta(p.Metadata)
	if len(p.Spec.Parameters) == 0 {
		d.kv(0, "Parameters", "")
	} else {
		d.printf("Parameters:\n")
		var rows [][]string
		for _, prm := range p.Spec.Parameters {
			def := "(required)"
			if prm.Default != nil {
				def = fmt.Sprintf("default %q", *prm.Default)
			}
			rows = append(rows, []string{prm.Name, def, orDash(prm.Description)})
		}
		d.table(nil, rows)
	}
	d.printf("Stages:\n")
	for i, st := range p.Spec.Stages {
		d.printf("  %d. %s (%s)\n", i+1, st.Name, st.Type())
		d.stageSettings(st)
	}
	if len(recent.Items) == 0 {
		d.kv(0, "Deployments", "none yet")
		return d.err
	}
	d.printf("Deployments (newest %d of %d):\n", len(recent.Items), recent.Total)
	var rows [][]string
	for _, x := range recent.Items {
		rows = append(rows, []string{
			strconv.FormatInt(x.ID, 10), fmt.Sprintf("#%d", x.Number), kindOf(x), string(x.Status),
			orDash(v1alpha1.FormatParameters(x.Parameters, ",")), age(d.now, x.StartedAt), liveCell(x),
		})
	}
	d.table([]string{"ID", "NUMBER", "KIND", "STATUS", "PARAMETERS", "STARTED", "LIVE"}, rows)
	return d.err
}

// stageSettings writes a stage's settings, showing defaults as such.
func (d *describer) stageSettings(st v1alpha1.Stage) {
	const in = 5
	dur := func(v *v1alpha1.Duration, def time.Duration) string {
		if v == nil {
			return shortDuration(def) + " (default)"
		}
		return shortDuration(v.Duration)
	}
	switch {
	case st.CanaryDeployment != nil:
		c := st.CanaryDeployment
		d.kv(in, "Environment", c.Environment)
		d.kv(in, "Artifacts", strings.Join(c.Artifacts, ", "))
		d.kv(in, "Namespace", c.Namespace)
		rt := d.routing
		if rt == nil {
			r := c.Routing(c.Environment, v1alpha1.EnvironmentSpec{})
			r.Layout, r.LayoutReason = "", ""
			if c.IngressName != "" {
				r.Layout = "(environment " + c.Environment + " not readable)"
			}
			rt = &r
		}
		d.traffic(in, rt)
		d.kv(in, "Rollout timeout", dur(c.RolloutTimeout, v1alpha1.DefaultRolloutTimeout))
		switch {
		case c.Scale == nil:
			d.kv(in, "Canary size", "as the manifests (default)")
		case c.Scale.Replicas > 0:
			d.kv(in, "Canary size", fmt.Sprintf("%d replica(s) per Deployment", c.Scale.Replicas))
		default:
			d.kv(in, "Canary size", fmt.Sprintf("%d%% of each Deployment's replicas", c.Scale.Percent))
		}
	case st.ShiftTraffic != nil:
		s := st.ShiftTraffic
		d.kv(in, "Ramp limit", fmt.Sprintf("%d%% of requests to the canary", s.RampLimitPercent))
		batches := strconv.Itoa(s.BatchCount)
		if s.BatchCount == 0 {
			batches = strconv.Itoa(v1alpha1.DefaultBatchCount) + " (default)"
		}
		d.kv(in, "Batches", batches)
		d.kv(in, "Batch delay", dur(s.BatchDelay, 0))
		d.kv(in, "As steps", strings.Join(rampSteps(s), " → "))
	case st.CanarySteps != nil:
		d.gateSteps(in, st)
		if bg := st.CanarySteps.BackgroundAnalysis; bg != nil {
			d.kv(in, "Background analysis", analysisText(*bg)+" from the first weight above 0 to the stage's end (gate "+v1alpha1.BackgroundGate(st.Name)+")")
		}
	case st.Approval != nil:
		a := st.Approval
		n := strconv.Itoa(a.ApprovalsRequired)
		if a.ApprovalsRequired == 0 {
			n = strconv.Itoa(v1alpha1.DefaultApprovalsRequired) + " (default)"
		}
		d.kv(in, "Approvals required", n)
		d.kv(in, "Timeout", dur(a.Timeout, v1alpha1.DefaultApprovalTimeout))
	case st.BlueGreen != nil:
		d.blueGreenSettings(in, st.Name, st.BlueGreen, dur)
	case st.ProductionRelease != nil:
		r := st.ProductionRelease
		d.kv(in, "Namespace", r.Namespace)
		d.kv(in, "Rollout timeout", dur(r.RolloutTimeout, v1alpha1.DefaultRolloutTimeout))
		d.kv(in, "Promotion hold", dur(r.PromotionHold, v1alpha1.DefaultPromotionHold))
		if r.RollbackOnFailure == v1alpha1.RollbackAllWaves {
			d.kv(in, "Wave failure", "rolls back every target, this production included")
		}
	case st.ProductionWave != nil:
		w := st.ProductionWave
		if len(w.Steps) > 0 {
			d.gateSteps(in, st)
		}
		names := make([]string, len(w.Targets))
		for i, t := range w.Targets {
			names[i] = t.Name()
		}
		d.kv(in, "Targets", strings.Join(names, ", "))
		d.kv(in, "Rollout timeout", dur(w.RolloutTimeout, v1alpha1.DefaultRolloutTimeout))
	}
}

// gateSteps lists the steps of a canarySteps or productionWave stage, each
// that waits with its gate.
func (d *describer) gateSteps(in int, st v1alpha1.Stage) {
	d.printf("%*sSteps:\n", in, "")
	for i, step := range st.GateSteps() {
		gate := ""
		if step.Pause != nil || step.Approval != nil || step.Analysis != nil {
			gate = "  (gate " + pipeline.GateName(st.Name, i) + ")"
		}
		d.printf("%*s%d. %s%s\n", in+2, "", i+1, stepText(step), gate)
	}
}

// rampSteps is a shift-traffic stage written as the canary steps it runs:
// each batch's weight, with the batch delay between them.
func rampSteps(s *v1alpha1.ShiftTrafficStage) []string {
	var out []string
	for i, w := range pipeline.Weights(s) {
		if i > 0 && s.BatchDelay != nil && s.BatchDelay.Duration > 0 {
			out = append(out, "pause "+shortDuration(s.BatchDelay.Duration))
		}
		out = append(out, fmt.Sprintf("setWeight %d%%", w))
	}
	return out
}

// stepText describes one canary step.
func stepText(s v1alpha1.CanaryStep) string {
	switch {
	case s.SetWeight != nil:
		return fmt.Sprintf("setWeight %d%%", *s.SetWeight)
	case s.Pause != nil && (s.Pause.Duration == nil || s.Pause.Duration.Duration == 0):
		return "pause until resumed (fledge resume)"
	case s.Pause != nil:
		return "pause " + shortDuration(s.Pause.Duration.Duration)
	case s.Approval != nil:
		n := s.Approval.ApprovalsRequired
		if n == 0 {
			n = v1alpha1.DefaultApprovalsRequired
		}
		timeout := v1alpha1.DefaultApprovalTimeout
		if s.Approval.Timeout != nil {
			timeout = s.Approval.Timeout.Duration
		}
		text := fmt.Sprintf("approval by %d, timeout %s", n, shortDuration(timeout))
		if s.Approval.RequireDistinctFromTrigger {
			text += ", not by who triggered the run"
		}
		return text
	case s.Analysis != nil:
		return "analysis " + analysisText(*s.Analysis)
	}
	return "(empty step)"
}

// analysisText names an analysis's templates and the arguments it sets.
func analysisText(a v1alpha1.AnalysisStep) string {
	var names, args []string
	for _, t := range a.Templates {
		names = append(names, t.Name)
	}
	for _, x := range a.Args {
		args = append(args, x.Name+"="+x.Value)
	}
	text := strings.Join(names, ", ")
	if len(args) > 0 {
		text += " [" + strings.Join(args, ", ") + "]"
	}
	return text
}

// traffic writes how requests are split: provider, route, layout and the
// tester header.
func (d *describer) traffic(in int, rt *v1alpha1.TrafficRouting) {
	d.kv(in, "Traffic provider", rt.Provider)
	if rt.Provider == v1alpha1.TrafficProviderGatewayAPI {
		d.kv(in, "HTTPRoute", rt.HTTPRoute)
	} else {
		d.kv(in, "Ingress", rt.Ingress)
		layout := rt.Layout
		if rt.LayoutReason != "" {
			layout += " (" + rt.LayoutReason + ")"
		}
		d.kv(in, "Ingress layout", layout)
	}
	d.kv(in, "Tester header", rt.TesterHeader.Name+": "+rt.TesterHeader.Value)
	if rt.TesterCookie != "" {
		d.kv(in, "Tester cookie", rt.TesterCookie+"=always")
	}
}

func describeDeployment(ctx context.Context, c *apiclient.Client, d *describer, id int64) error {
	desc, err := readDeploymentDescription(ctx, c, id)
	if err != nil {
		return err
	}
	dep, events := desc.Deployment, desc.Events
	d.kv(0, "ID", strconv.FormatInt(dep.ID, 10))
	d.kv(0, "Pipeline", fmt.Sprintf("%s (generation %d)", dep.Pipeline, dep.PipelineGeneration))
	d.kv(0, "Number", fmt.Sprintf("#%d", dep.Number))
	kind := string(dep.Kind)
	if dep.Kind == v1alpha1.KindRollback && dep.RollbackTo != 0 {
		kind += fmt.Sprintf(" (to deployment %d)", dep.RollbackTo)
	}
	d.kv(0, "Kind", kind)
	if dep.Reason != "" {
		d.kv(0, "Reason", dep.Reason)
	}
	status := string(dep.Status)
	if dep.CancelRequested && !dep.Status.Final() {
		status += " (cancellation requested)"
	}
	d.kv(0, "Status", status)
	d.kv(0, "Message", dep.Message)
	d.kv(0, "Current stage", dep.CurrentStage)
	d.kv(0, "Parameters", v1alpha1.FormatParameters(dep.Parameters, ","))
	d.kv(0, "Triggered by", dep.TriggeredBy)
	if dep.BlueGreen == nil {
		d.kv(0, "Canary weight", fmt.Sprintf("%d%%", dep.CanaryWeight))
	}
	if dep.Traffic != nil {
		d.traffic(0, dep.Traffic)
	}
	live := "no"
	if dep.Live {
		live = "yes, production runs this deployment"
	}
	d.kv(0, "Live", live)
	d.kv(0, "Created", timestamp(d.now, &dep.CreatedAt))
	d.kv(0, "Started", timestamp(d.now, dep.StartedAt))
	d.kv(0, "Ended", timestamp(d.now, dep.EndedAt))
	d.kv(0, "In production since", timestamp(d.now, dep.ProductionAt))
	d.blueGreen(dep)
	if dep.ApprovalDeadline != nil && !dep.Status.Final() {
		d.kv(0, "Approval deadline", timestamp(d.now, dep.ApprovalDeadline))
	}

	d.printf("Stages:\n")
	var rows [][]string
	for _, st := range dep.Stages {
		rows = append(rows, []string{st.Name, string(st.Type), string(st.Status), age(d.now, st.StartedAt), age(d.now, st.EndedAt), orDash(st.Message)})
	}
	d.table([]string{"NAME", "TYPE", "STATUS", "STARTED", "ENDED", "MESSAGE"}, rows)
	d.targets(dep)
	d.analyses(dep)

	if len(dep.Decisions) == 0 {
		d.kv(0, "Decisions", "none")
	} else {
		d.printf("Decisions:\n")
		rows = nil
		for _, x := range dep.Decisions {
			rows = append(rows, []string{x.Stage, x.User, string(x.Decision), age(d.now, &x.At), orDash(x.Reason)})
		}
		d.table([]string{"STAGE", "USER", "DECISION", "AGE", "REASON"}, rows)
	}
	d.notifications(dep.Notifications)

	if len(events) == 0 {
		d.kv(0, "Events", "none")
		return d.err
	}
	shown := events
	if len(shown) > describeEvents {
		shown = shown[len(shown)-describeEvents:]
		d.printf("Events (latest %d of %d; all with: fledge logs %d):\n", len(shown), len(events), dep.ID)
	} else {
		d.printf("Events:\n")
	}
	rows = nil
	for _, e := range shown {
		rows = append(rows, []string{age(d.now, &e.Time), orDash(e.Stage), e.Type, e.Message})
	}
	d.table([]string{"AGE", "STAGE", "TYPE", "MESSAGE"}, rows)
	return d.err
}

// targets prints the production targets of the deployment's waves.
func (d *describer) targets(dep v1alpha1.Deployment) {
	if len(dep.Targets) == 0 {
		return
	}
	d.printf("Production targets:\n")
	var rows [][]string
	for _, t := range dep.Targets {
		live := liveMark(slices.Contains(dep.LiveTargets, t.Name))
		prev := "-"
		if t.Previous != 0 {
			prev = strconv.FormatInt(t.Previous, 10)
		}
		rows = append(rows, []string{t.Name, t.Stage, string(t.Status), live, prev, age(d.now, t.UpdatedAt), orDash(t.Message)})
	}
	d.table([]string{"TARGET", "WAVE", "STATUS", "LIVE", "BEFORE", "UPDATED", "MESSAGE"}, rows)
}

// analyses prints each analysis of the deployment with its metrics'
// counts; `fledge analysis ID` lists every measurement.
func (d *describer) analyses(dep v1alpha1.Deployment) {
	if len(dep.Analyses) == 0 {
		return
	}
	d.printf("Analyses (every measurement: fledge analysis %d):\n", dep.ID)
	var rows [][]string
	for _, a := range dep.Analyses {
		for i, m := range a.Metrics {
			name, phase, msg := "", "", ""
			if i == 0 {
				name, phase, msg = a.Name, string(a.Phase), orDash(a.Message)
			}
			rows = append(rows, []string{
				name, phase, m.Template + "/" + m.Metric, string(m.Phase),
				fmt.Sprintf("%d ok, %d failed, %d inconclusive, %d errors", m.Successful, m.Failed, m.Inconclusive, m.Errors), msg,
			})
		}
	}
	d.table([]string{"ANALYSIS", "PHASE", "METRIC", "METRIC PHASE", "MEASUREMENTS", "MESSAGE"}, rows)
}

// notifications prints each notification's deliveries: one row per
// receiver with its latest attempt, and a pending row for a notification
// not yet tried.
func (d *describer) notifications(ns []v1alpha1.NotificationStatus) {
	if len(ns) == 0 {
		return
	}
	d.printf("Notifications:\n")
	var rows [][]string
	for _, n := range ns {
		latest := map[string]v1alpha1.NotificationAttempt{}
		var order []string
		for _, a := range n.Attempts {
			if _, ok := latest[a.Receiver]; !ok {
				order = append(order, a.Receiver)
			}
			latest[a.Receiver] = a
		}
		if len(order) == 0 {
			result := "pending"
			if n.Done {
				result = "no receivers"
			}
			rows = append(rows, []string{string(n.Event), "-", "-", result, "-", "-", "-"})
			continue
		}
		for _, r := range order {
			a := latest[r]
			result := a.Result
			if !n.Done && a.Result == "failed" {
				result = "failed, retrying"
			}
			rows = append(rows, []string{string(n.Event), orDash(a.Receiver), orDash(a.Sink), result, strconv.Itoa(a.Attempt), age(d.now, &a.At), orDash(a.Detail)})
		}
	}
	d.table([]string{"EVENT", "RECEIVER", "SINK", "RESULT", "ATTEMPTS", "AGE", "DETAIL"}, rows)
}

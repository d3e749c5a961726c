package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
)

// kindDeployment names deployments among the kinds get accepts; they are
// runs, not declared resources.
const kindDeployment = "Deployment"

// resolveKind reads a kind as kubectl does: singular, plural, kind or
// short name, in any case.
func resolveKind(s string, deployments bool) (string, error) {
	if k := v1alpha1.KindOfPlural(s); k != "" {
		return k, nil
	}
	if deployments {
		switch strings.ToLower(s) {
		case "deployment", "deployments", "deploy", "dep", "deps":
			return kindDeployment, nil
		}
		return "", usageErrorf("unknown resource kind %q: want environments, artifacts, analysistemplates, pipelines or deployments", s)
	}
	return "", usageErrorf("unknown resource kind %q: want environments, artifacts, analysistemplates or pipelines", s)
}

type getOptions struct {
	watch    bool
	output   string
	pipeline string
	statuses []string
	limit    int
}

// newGetCommand lists resources or deployments, or shows one.
func newGetCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &getOptions{}
	cmd := &cobra.Command{
		ValidArgsFunction: completeArgs(g, kindsOf(true), namesOfKindArg),
		Use:               "get environments|artifacts|pipelines|deployments [NAME|ID]",
		Short:             "List resources or deployments, or show one",
		Example: `  fledge get pipelines
  fledge get pipeline webpage-canary-deployment-pipeline -o yaml
  fledge get deployments --pipeline webpage-canary-deployment-pipeline --status WaitingForApproval
  fledge get deployment 42 -o json`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGet(cmd.Context(), streams, g, o, args)
		},
	}
	f := cmd.Flags()
	addOutputFlag(f, &o.output, outputTable, outputWide, outputJSON, outputYAML)
	f.StringVar(&o.pipeline, "pipeline", "", "deployments: only those of this pipeline")
	f.StringSliceVar(&o.statuses, "status", nil, "deployments: only those in these statuses (comma-separated, e.g. Running,WaitingForApproval)")
	f.IntVar(&o.limit, "limit", 50, "deployments: how many to list, newest first (1 to 500)")
	f.BoolVarP(&o.watch, "watch", "w", false, "deployments: after the list, print a row each time a deployment starts or changes status, stage or weight (until interrupted)")
	return clientCommand(cmd, argsBetween(1, 2, "the kind to get: environments, artifacts, analysistemplates, pipelines or deployments"))
}

func runGet(ctx context.Context, streams Streams, g *globalOptions, o *getOptions, args []string) error {
	if err := checkOutput(o.output, outputTable, outputWide, outputJSON, outputYAML); err != nil {
		return err
	}
	kind, err := resolveKind(args[0], true)
	if err != nil {
		return err
	}
	var name string
	if len(args) == 2 {
		name = args[1]
	}
	if kind != kindDeployment && (o.pipeline != "" || len(o.statuses) > 0 || o.watch) {
		return usageErrorf("--pipeline, --status and --watch apply to deployments only")
	}
	if o.watch && (o.output == outputJSON || o.output == outputYAML) {
		return usageErrorf("--watch prints table rows: use -o wide or no -o")
	}
	if kind == kindDeployment {
		statuses, err := parseStatuses(o.statuses)
		if err != nil {
			return err
		}
		if o.limit < 1 || o.limit > 500 {
			return usageErrorf("--limit must be between 1 and 500, got %d", o.limit)
		}
		c, err := g.client()
		if err != nil {
			return err
		}
		return getDeployments(ctx, streams, c, o, name, statuses)
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	return getResources(ctx, streams, c, o.output, kind, name)
}

// parseStatuses reads deployment statuses in any case.
func parseStatuses(in []string) ([]v1alpha1.DeploymentStatus, error) {
	all := []v1alpha1.DeploymentStatus{
		v1alpha1.StatusQueued, v1alpha1.StatusRunning, v1alpha1.StatusWaitingForApproval,
		v1alpha1.StatusSucceeded, v1alpha1.StatusFailed, v1alpha1.StatusRejected, v1alpha1.StatusCancelled,
	}
	var out []v1alpha1.DeploymentStatus
next:
	for _, s := range in {
		for _, st := range all {
			if strings.EqualFold(s, string(st)) {
				out = append(out, st)
				continue next
			}
		}
		names := make([]string, len(all))
		for i, st := range all {
			names[i] = string(st)
		}
		return nil, usageErrorf("--status %q: want one of %s", s, strings.Join(names, ", "))
	}
	return out, nil
}

// decodeResource turns a resource's JSON into its typed value.
func decodeResource(kind string, raw []byte) (any, error) {
	var v any
	switch kind {
	case v1alpha1.KindEnvironment:
		v = &v1alpha1.Environment{}
	case v1alpha1.KindArtifact:
		v = &v1alpha1.Artifact{}
	case v1alpha1.KindPipeline:
		v = &v1alpha1.Pipeline{}
	case v1alpha1.KindAnalysisTemplate:
		v = &v1alpha1.AnalysisTemplate{}
	default:
		return nil, fmt.Errorf("unknown kind %q", kind)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return nil, fmt.Errorf("decode %s: %w", strings.ToLower(kind), err)
	}
	return v, nil
}

func getResources(ctx context.Context, streams Streams, c *apiclient.Client, output, kind, name string) error {
	var raws []json.RawMessage
	if name != "" {
		var raw json.RawMessage
		if err := c.GetResource(ctx, kind, name, &raw); err != nil {
			return err
		}
		raws = []json.RawMessage{raw}
	} else {
		var err error
		if raws, err = c.ListResources(ctx, kind); err != nil {
			return err
		}
	}
	if output == outputJSON {
		// The server's JSON as it is, so that no field is lost.
		if name != "" {
			return printData(streams.Out, outputJSON, raws[0])
		}
		return printData(streams.Out, outputJSON, v1alpha1.ResourceList[json.RawMessage]{Items: nonNil(raws)})
	}
	objs := make([]any, len(raws))
	for i, raw := range raws {
		v, err := decodeResource(kind, raw)
		if err != nil {
			return err
		}
		objs[i] = v
	}
	if output == outputYAML {
		if name != "" {
			return printData(streams.Out, outputYAML, objs[0])
		}
		return printData(streams.Out, outputYAML, v1alpha1.ResourceList[any]{Items: objs})
	}
	if len(objs) == 0 {
		fmt.Fprintf(streams.ErrOut, "No %s found.\n", v1alpha1.Plural(kind))
		return nil
	}
	return printResourceTable(streams.Out, nowFrom(ctx), kind, objs, output == outputWide)
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// printResourceTable writes resources of one kind as a table.
func printResourceTable(w io.Writer, now time.Time, kind string, objs []any, wide bool) error {
	var t *table
	switch kind {
	case v1alpha1.KindEnvironment:
		h := []string{"NAME", "CLUSTER", "CONTEXT", "AGE"}
		if wide {
			h = append(h, "NAMESPACES", "DESCRIPTION")
		}
		t = newTable(w, h...)
		for _, o := range objs {
			e := o.(*v1alpha1.Environment)
			row := []string{e.Metadata.Name, clusterOf(e.Spec), orDash(e.Spec.Context), age(now, e.Metadata.CreatedAt)}
			if wide {
				ns := "must exist"
				if e.Spec.NamespacesCreatable() {
					ns = "created as needed"
				}
				row = append(row, ns, orDash(e.Metadata.Description))
			}
			t.row(row...)
		}
	case v1alpha1.KindArtifact:
		h := []string{"NAME", "OBJECTS", "SIZE", "AGE"}
		if wide {
			h = append(h, "CONTENTS", "DESCRIPTION")
		}
		t = newTable(w, h...)
		for _, o := range objs {
			a := o.(*v1alpha1.Artifact)
			names, err := manifestObjects(a.Spec.Manifests)
			count := strconv.Itoa(len(names))
			if err != nil {
				count = "?"
			}
			row := []string{a.Metadata.Name, count, byteSize(len(a.Spec.Manifests)), age(now, a.Metadata.CreatedAt)}
			if wide {
				row = append(row, orDash(strings.Join(names, ",")), orDash(a.Metadata.Description))
			}
			t.row(row...)
		}
	case v1alpha1.KindPipeline:
		h := []string{"NAME", "STAGES", "ENVIRONMENT", "CANARY NAMESPACE", "PRODUCTION NAMESPACE", "AGE"}
		if wide {
			h = append(h, "PARAMETERS", "GENERATION", "DESCRIPTION")
		}
		t = newTable(w, h...)
		for _, o := range objs {
			p := o.(*v1alpha1.Pipeline)
			env, canaryNS, prodNS := "-", "-", "-"
			if c := p.CanaryStage(); c != nil {
				env, canaryNS = c.Environment, c.Namespace
			}
			if r := p.ProductionStage(); r != nil {
				prodNS = r.Namespace
			}
			row := []string{p.Metadata.Name, strconv.Itoa(len(p.Spec.Stages)), env, canaryNS, prodNS, age(now, p.Metadata.CreatedAt)}
			if wide {
				params := make([]string, len(p.Spec.Parameters))
				for i, prm := range p.Spec.Parameters {
					params[i] = prm.Name
				}
				row = append(row, orDash(strings.Join(params, ",")), strconv.FormatInt(p.Metadata.Generation, 10), orDash(p.Metadata.Description))
			}
			t.row(row...)
		}
	case v1alpha1.KindAnalysisTemplate:
		h := []string{"NAME", "METRICS", "JUDGE", "ARGS", "AGE"}
		if wide {
			h = append(h, "PROVIDERS", "DESCRIPTION")
		}
		t = newTable(w, h...)
		for _, o := range objs {
			a := o.(*v1alpha1.AnalysisTemplate)
			metrics := make([]string, len(a.Spec.Metrics))
			var providers []string
			for i, m := range a.Spec.Metrics {
				metrics[i] = m.Name
				p := "web"
				if m.Provider.Prometheus != nil {
					p = "prometheus"
				}
				if !slices.Contains(providers, p) {
					providers = append(providers, p)
				}
			}
			judge := "-"
			if j := a.Spec.Judge; j != nil {
				judge = strconv.Itoa(len(j.Metrics)) + " metrics"
			}
			args := make([]string, len(a.Spec.Args))
			for i, arg := range a.Spec.Args {
				args[i] = arg.Name
			}
			row := []string{a.Metadata.Name, orDash(strings.Join(metrics, ",")), judge, orDash(strings.Join(args, ",")), age(now, a.Metadata.CreatedAt)}
			if wide {
				row = append(row, orDash(strings.Join(providers, ",")), orDash(a.Metadata.Description))
			}
			t.row(row...)
		}
	}
	return t.flush()
}

// clusterOf says how an environment reaches its cluster.
func clusterOf(s v1alpha1.EnvironmentSpec) string {
	switch {
	case s.InCluster:
		return "in-cluster"
	case s.Kubeconfig != nil && s.Kubeconfig.Path != "":
		return "kubeconfig " + s.Kubeconfig.Path
	case s.Kubeconfig != nil:
		return "kubeconfig (inline)"
	}
	return "-"
}

// manifestObjects lists the Kind/name of each object of a manifest text.
func manifestObjects(manifests string) ([]string, error) {
	var out []string
	dec := yaml.NewDecoder(strings.NewReader(manifests))
	for {
		var obj struct {
			Kind     string `yaml:"kind"`
			Metadata struct {
				Name string `yaml:"name"`
			} `yaml:"metadata"`
		}
		err := dec.Decode(&obj)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		if obj.Kind != "" {
			out = append(out, obj.Kind+"/"+obj.Metadata.Name)
		}
	}
}

// byteSize writes a size like 1.2KiB.
func byteSize(n int) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%dB", n)
	case n < 1024*1024:
		return fmt.Sprintf("%.1fKiB", float64(n)/1024)
	}
	return fmt.Sprintf("%.1fMiB", float64(n)/(1024*1024))
}

func getDeployments(ctx context.Context, streams Streams, c *apiclient.Client, o *getOptions, name string, statuses []v1alpha1.DeploymentStatus) error {
	var items []v1alpha1.Deployment
	if name != "" {
		ref, err := parseDeploymentRef(name)
		if err != nil {
			return err
		}
		id, err := c.DeploymentID(ctx, ref)
		if err != nil {
			return err
		}
		d, err := c.GetDeployment(ctx, id)
		if err != nil {
			return err
		}
		if o.output == outputJSON || o.output == outputYAML {
			return printData(streams.Out, o.output, d)
		}
		items = []v1alpha1.Deployment{d}
	} else {
		list, err := c.ListDeployments(ctx, apiclient.ListOptions{Pipeline: o.pipeline, Statuses: statuses, Limit: o.limit})
		if err != nil {
			return err
		}
		if o.output == outputJSON || o.output == outputYAML {
			list.Items = nonNil(list.Items)
			return printData(streams.Out, o.output, list)
		}
		if len(list.Items) == 0 && !o.watch {
			fmt.Fprintln(streams.ErrOut, "No deployments found.")
			return nil
		}
		items = list.Items
		if list.NextBefore != 0 {
			defer fmt.Fprintf(streams.ErrOut, "Showing the newest %d of %d deployments; use --limit to see more.\n", len(items), list.Total)
		}
	}
	now := nowFrom(ctx)
	if err := printList(streams.Out, o.output, nil, items, columns[v1alpha1.Deployment]{
		headers: deploymentHeaders,
		wide:    deploymentWideHeaders,
		row:     func(d v1alpha1.Deployment, wide bool) []string { return deploymentRow(d, now, wide) },
	}); err != nil || !o.watch {
		return err
	}
	return watchDeployments(ctx, streams, c, o, name, statuses, items)
}

// The columns of `get deployments`, and of its -o wide.
var (
	deploymentHeaders     = []string{"ID", "PIPELINE", "NUMBER", "KIND", "STATUS", "STAGE", "WEIGHT", "AGE"}
	deploymentWideHeaders = []string{"PARAMETERS", "TRIGGERED BY", "LIVE"}
)

func deploymentRow(d v1alpha1.Deployment, now time.Time, wide bool) []string {
	row := []string{
		strconv.FormatInt(d.ID, 10), d.Pipeline, fmt.Sprintf("#%d", d.Number), kindOf(d), string(d.Status),
		orDash(d.CurrentStage), fmt.Sprintf("%d%%", d.CanaryWeight), age(now, &d.CreatedAt),
	}
	if wide {
		row = append(row, orDash(v1alpha1.FormatParameters(d.Parameters, ",")), orDash(d.TriggeredBy), liveCell(d))
	}
	return row
}

// watchDeployments follows get deployments --watch: every waitPoll it reads
// the same selection again and prints a row for each deployment that is new
// or changed status, stage or weight, as kubectl get --watch does. It ends,
// without an error, when interrupted.
func watchDeployments(ctx context.Context, streams Streams, c *apiclient.Client, o *getOptions, name string, statuses []v1alpha1.DeploymentStatus, seen []v1alpha1.Deployment) error {
	state := func(d v1alpha1.Deployment) string {
		return fmt.Sprintf("%s|%s|%d|%v", d.Status, d.CurrentStage, d.CanaryWeight, d.Live)
	}
	last := map[int64]string{}
	for _, d := range seen {
		last[d.ID] = state(d)
	}
	tick := time.NewTicker(waitPoll)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		var items []v1alpha1.Deployment
		if name != "" {
			d, err := c.GetDeployment(ctx, seen[0].ID)
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			items = []v1alpha1.Deployment{d}
		} else {
			list, err := c.ListDeployments(ctx, apiclient.ListOptions{Pipeline: o.pipeline, Statuses: statuses, Limit: o.limit})
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			items = list.Items
		}
		now := nowFrom(ctx)
		t := newTable(streams.Out)
		// Oldest first, as the changes happened.
		for i := len(items) - 1; i >= 0; i-- {
			d := items[i]
			if st := state(d); last[d.ID] != st {
				last[d.ID] = st
				t.row(deploymentRow(d, now, o.output == outputWide)...)
			}
		}
		if err := t.flush(); err != nil {
			return err
		}
	}
}

// kindOf writes a deployment's kind; a rollback names its target.
func kindOf(d v1alpha1.Deployment) string {
	if d.Kind == v1alpha1.KindRollback && d.RollbackTo != 0 {
		return fmt.Sprintf("Rollback(to %d)", d.RollbackTo)
	}
	return orDash(string(d.Kind))
}

func liveMark(live bool) string {
	if live {
		return "*"
	}
	return "-"
}

// liveCell marks what runs deployment d now: "*" for the production
// beside the canary, then the names of the later waves' targets.
func liveCell(d v1alpha1.Deployment) string {
	if len(d.LiveTargets) == 0 {
		return liveMark(d.Live)
	}
	parts := slices.Clone(d.LiveTargets)
	if d.Live {
		parts = append([]string{"*"}, parts...)
	}
	return strings.Join(parts, ",")
}

// indentLines indents every line of s.
func indentLines(s, prefix string) string {
	var b bytes.Buffer
	for _, line := range strings.SplitAfter(s, "\n") {
		if line == "" {
			continue
		}
		b.WriteString(prefix)
		b.WriteString(line)
	}
	return b.String()
}

package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/apiclient"
	"fledge.dev/fledge/internal/resourcefile"
)

type applyOptions struct {
	files     []string
	recursive bool
}

// newApplyCommand creates or updates resources from files, like kubectl
// apply: every file is decoded and validated before anything is sent.
func newApplyCommand(streams Streams, g *globalOptions) *cobra.Command {
	o := &applyOptions{}
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR [-f FILE|DIR ...]",
		Short: "Create or update environments, artifacts and pipelines from YAML files",
		Long: `Create or update resources from YAML files (apiVersion fledge.dev/v1alpha1).

Every file is read and checked first: an unknown field, a wrong kind or an
invalid value is reported with its file and line, and then nothing is sent.
Resources are applied in dependency order: environments, then artifacts,
then pipelines. An Artifact's spec.file is read relative to its YAML file.`,
		Example: `  fledge apply -f examples/webpage/
  fledge apply -f environment.yaml -f pipeline.yaml
  cat pipeline.yaml | fledge apply -f -`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runApply(cmd.Context(), streams, g, o)
		},
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.files, "filename", "f", nil, "a resource file, a directory of *.yaml and *.yml files, or - for standard input (repeatable)")
	f.BoolVarP(&o.recursive, "recursive", "R", false, "read the directories given with -f recursively")
	return clientCommand(cmd, cobra.NoArgs)
}

func runApply(ctx context.Context, streams Streams, g *globalOptions, o *applyOptions) error {
	if len(o.files) == 0 {
		return usageErrorf("apply needs at least one -f FILE or DIR")
	}
	stdins := 0
	for _, f := range o.files {
		if f == "-" {
			stdins++
		}
	}
	if stdins > 1 {
		return usageErrorf("-f - can be given only once")
	}
	objs, err := decodeResourceFiles(streams.In, o)
	if err != nil {
		n := strings.Count(err.Error(), "\n") + 1
		what := "a problem"
		if n > 1 {
			what = fmt.Sprintf("%d problems", n)
		}
		return failedf("%s in the resource files; nothing was applied:\n%s", what, err)
	}
	if len(objs) == 0 {
		return failedf("no resources found in %s", strings.Join(o.files, ", "))
	}
	c, err := g.client()
	if err != nil {
		return err
	}
	// Environments, then artifacts, then pipelines, so that references
	// resolve on the server; the files' order is kept within a kind.
	slices.SortStableFunc(objs, func(a, b resourcefile.Object) int {
		return slices.Index(v1alpha1.Kinds, a.Kind) - slices.Index(v1alpha1.Kinds, b.Kind)
	})
	// A resource referring to one that is neither applied here nor on
	// the server fails the whole apply before anything is sent.
	if err := checkReferences(ctx, c, objs); err != nil {
		return failedf("%v; nothing was applied", err)
	}
	failed := 0
	for _, obj := range objs {
		res, err := c.ApplyResource(ctx, obj.Kind, obj.Name, obj.Value)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			failed++
			fmt.Fprintf(streams.ErrOut, "error: %s: %v\n", obj.Source, err)
			continue
		}
		fmt.Fprintf(streams.Out, "%s/%s %s\n", strings.ToLower(obj.Kind), obj.Name, res.Action)
	}
	if failed > 0 {
		return failedf("%d of %d resources were not applied", failed, len(objs))
	}
	return nil
}

// checkReferences makes sure every environment and artifact a pipeline
// names is among objs or exists on the server, and names each that is
// missing with the file and field that refers to it.
func checkReferences(ctx context.Context, c *apiclient.Client, objs []resourcefile.Object) error {
	applied := map[string]bool{}
	for _, o := range objs {
		applied[o.Kind+"/"+o.Name] = true
	}
	exists := map[string]bool{}
	var missing []string
	need := func(source, field, kind, name string) error {
		key := kind + "/" + name
		if applied[key] {
			return nil
		}
		ok, seen := exists[key]
		if !seen {
			var discard map[string]any
			err := c.GetResource(ctx, kind, name, &discard)
			switch {
			case err == nil:
				ok = true
			case apiclient.IsNotFound(err):
				ok = false
			default:
				return err
			}
			exists[key] = ok
		}
		if !ok {
			missing = append(missing, fmt.Sprintf("%s: %s: %s %q is neither in the files nor on the server", source, field, strings.ToLower(kind), name))
		}
		return nil
	}
	for _, o := range objs {
		p, ok := o.Value.(*v1alpha1.Pipeline)
		if !ok {
			continue
		}
		for i, st := range p.Spec.Stages {
			cd := st.CanaryDeployment
			if cd == nil {
				continue
			}
			field := fmt.Sprintf("spec.stages[%d].canaryDeployment", i)
			if err := need(o.Source, field+".environment", v1alpha1.KindEnvironment, cd.Environment); err != nil {
				return err
			}
			for j, a := range cd.Artifacts {
				if err := need(o.Source, fmt.Sprintf("%s.artifacts[%d]", field, j), v1alpha1.KindArtifact, a); err != nil {
					return err
				}
			}
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%d missing reference(s):\n%s", len(missing), strings.Join(missing, "\n"))
	}
	return nil
}

// decodeResourceFiles reads every -f; "-" is standard input, read within
// the same bound as a file. It reports the problems of all of them.
func decodeResourceFiles(stdin io.Reader, o *applyOptions) ([]resourcefile.Object, error) {
	var paths []string
	var objs []resourcefile.Object
	var errs []error
	for _, f := range o.files {
		if f != "-" {
			paths = append(paths, f)
			continue
		}
		data, err := io.ReadAll(io.LimitReader(stdin, resourcefile.MaxFileSize+1))
		if err != nil {
			return nil, fmt.Errorf("read standard input: %w", err)
		}
		objs, err = resourcefile.Decode("<stdin>", data)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(paths) > 0 {
		fromFiles, err := resourcefile.DecodePathsWith(paths, resourcefile.Options{Recursive: o.recursive})
		if err != nil {
			errs = append(errs, err)
		}
		objs = append(fromFiles, objs...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return objs, nil
}

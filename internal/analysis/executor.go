package analysis

import (
	"context"
	"time"

	"fledge.dev/fledge/api/v1alpha1"
	"fledge.dev/fledge/internal/pipeline"
)

// Begin implements the executor's Analyzer: the step's templates, frozen
// in the plan, with args (the deployment's merged with the step's own).
func (a *Analyzer) Begin(_ context.Context, p *pipeline.Plan, name string, step v1alpha1.AnalysisStep, args map[string]string, now time.Time) (*v1alpha1.AnalysisRun, error) {
	names := make([]string, len(step.Templates))
	for i, t := range step.Templates {
		names[i] = t.Name
	}
	return a.Start(name, names, p.AnalysisTemplates, args, now)
}

// Measure implements the executor's Analyzer.
func (a *Analyzer) Measure(ctx context.Context, p *pipeline.Plan, run *v1alpha1.AnalysisRun, now time.Time) (*v1alpha1.AnalysisRun, []v1alpha1.Measurement, error) {
	return a.Step(ctx, p.AnalysisTemplates, run, now)
}

// DeploymentArgNames are the arguments the executor gives every analysis
// of a deployment, besides param.NAME for each run parameter.
var DeploymentArgNames = []string{
	"pipeline", "deployment", "canaryNamespace", "productionNamespace",
	"service", "ingress", "httpRoute", "environment",
}

// DeploymentArgs returns the names of the arguments a deployment with these
// parameters gives (values empty: they are known when it runs), for checks
// at run creation.
func DeploymentArgs(params map[string]string) map[string]string {
	out := map[string]string{}
	for _, n := range DeploymentArgNames {
		out[n] = ""
	}
	for k := range params {
		out["param."+k] = ""
	}
	return out
}

// MissingArgs lists the arguments a template declares without a default
// that given lacks.
func MissingArgs(spec v1alpha1.AnalysisTemplateSpec, given map[string]string) []string {
	var missing []string
	for _, d := range spec.Args {
		if _, ok := given[d.Name]; !ok && d.Default == nil {
			missing = append(missing, d.Name)
		}
	}
	return missing
}

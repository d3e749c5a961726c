package analysis

import (
	"strconv"

	celast "cel.dev/cel-go/common/ast"

	"fledge.dev/fledge/api/v1alpha1"
)

// comparisons maps CEL's comparison functions to their operators, and
// flipped the operator with its sides swapped.
var (
	comparisons = map[string]string{"_<_": "<", "_<=_": "<=", "_>_": ">", "_>=_": ">="}
	flipped     = map[string]string{"<": ">", "<=": ">=", ">": "<", ">=": "<="}
)

// Thresholds reads the lines a numeric metric must stay on one side of
// from its conditions: every comparison of the result (result, or
// result[i]) with a number (a literal, or double(args.NAME) / int(...) of
// an argument in args) that the condition requires, alone or joined by
// && or ||. Anything else (a negation, a function of the result) gives no
// threshold; a condition that does not compile gives none, never an error:
// thresholds only draw a chart.
func Thresholds(spec v1alpha1.AnalysisMetric, args map[string]string) []v1alpha1.MetricThreshold {
	var out []v1alpha1.MetricThreshold
	for _, c := range []struct{ expr, kind string }{
		{spec.SuccessCondition, v1alpha1.ThresholdSuccess},
		{spec.FailureCondition, v1alpha1.ThresholdFailure},
	} {
		if c.expr == "" {
			continue
		}
		e, err := env(false)
		if err != nil {
			return nil
		}
		ast, iss := e.Parse(c.expr)
		if iss.Err() != nil {
			continue
		}
		walkThresholds(ast.NativeRep().Expr(), args, func(op string, v float64) {
			out = append(out, v1alpha1.MetricThreshold{Condition: c.kind, Operator: op, Value: v})
		})
	}
	return out
}

// walkThresholds calls found for each comparison of the result with a
// number under e, through && and || only.
func walkThresholds(e celast.Expr, args map[string]string, found func(op string, v float64)) {
	if e.Kind() != celast.CallKind {
		return
	}
	c := e.AsCall()
	switch fn := c.FunctionName(); {
	case fn == "_&&_" || fn == "_||_":
		for _, a := range c.Args() {
			walkThresholds(a, args, found)
		}
	case comparisons[fn] != "" && len(c.Args()) == 2:
		l, r := c.Args()[0], c.Args()[1]
		if v, ok := number(r, args); ok && isResult(l) {
			found(comparisons[fn], v)
		} else if v, ok := number(l, args); ok && isResult(r) {
			found(flipped[comparisons[fn]], v)
		}
	}
}

// isResult reports whether e is the result or an element of it.
func isResult(e celast.Expr) bool {
	switch e.Kind() {
	case celast.IdentKind:
		return e.AsIdent() == "result"
	case celast.CallKind:
		c := e.AsCall()
		return c.FunctionName() == "_[_]" && len(c.Args()) == 2 && isResult(c.Args()[0]) && c.Args()[1].Kind() == celast.LiteralKind
	}
	return false
}

// number evaluates a numeric literal, or a conversion of one or of an
// argument (double(args.threshold)).
func number(e celast.Expr, args map[string]string) (float64, bool) {
	switch e.Kind() {
	case celast.LiteralKind:
		switch v := e.AsLiteral().Value().(type) {
		case float64:
			return v, true
		case int64:
			return float64(v), true
		case uint64:
			return float64(v), true
		case string:
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	case celast.CallKind:
		c := e.AsCall()
		if fn := c.FunctionName(); (fn == "double" || fn == "int") && len(c.Args()) == 1 {
			return number(c.Args()[0], args)
		}
		if c.FunctionName() == "_[_]" && len(c.Args()) == 2 && isArgs(c.Args()[0]) && c.Args()[1].Kind() == celast.LiteralKind {
			if name, ok := c.Args()[1].AsLiteral().Value().(string); ok {
				return argNumber(args, name)
			}
		}
	case celast.SelectKind:
		s := e.AsSelect()
		if isArgs(s.Operand()) {
			return argNumber(args, s.FieldName())
		}
	}
	return 0, false
}

func isArgs(e celast.Expr) bool { return e.Kind() == celast.IdentKind && e.AsIdent() == "args" }

func argNumber(args map[string]string, name string) (float64, bool) {
	v, ok := args[name]
	if !ok {
		return 0, false
	}
	f, err := strconv.ParseFloat(v, 64)
	return f, err == nil
}

// JudgeMetric is the name of a template's judge among its metrics.
const JudgeMetric = judgeMetric

// Summaries describes the metrics of a deployment's analyses with their
// conditions and thresholds, from the templates its plan froze; the
// judge's are its pass and marginal scores.
func Summaries(templates map[string]v1alpha1.AnalysisTemplateSpec, runs []v1alpha1.AnalysisRun) []v1alpha1.MetricSummary {
	var out []v1alpha1.MetricSummary
	for _, run := range runs {
		for _, m := range run.Metrics {
			spec, ok := templates[m.Template]
			if !ok {
				continue
			}
			sum := v1alpha1.MetricSummary{Analysis: run.Name, Template: m.Template, Metric: m.Metric}
			if m.Metric == judgeMetric && spec.Judge != nil {
				pass, marginal := spec.Judge.Scores()
				sum.SuccessCondition = "score >= " + strconv.Itoa(pass)
				sum.FailureCondition = "score < " + strconv.Itoa(marginal)
				sum.Thresholds = []v1alpha1.MetricThreshold{
					{Condition: v1alpha1.ThresholdSuccess, Operator: ">=", Value: float64(pass)},
					{Condition: v1alpha1.ThresholdFailure, Operator: "<", Value: float64(marginal)},
				}
				out = append(out, sum)
				continue
			}
			for _, metric := range spec.Metrics {
				if metric.Name == m.Metric {
					sum.SuccessCondition, sum.FailureCondition = metric.SuccessCondition, metric.FailureCondition
					sum.Thresholds = Thresholds(metric, TemplateArgs(spec, run.Args))
				}
			}
			out = append(out, sum)
		}
	}
	return out
}

// TemplateArgs returns the arguments a template of an analysis saw: its
// declared ones from the analysis's args, else their defaults (a missing
// one is left out).
func TemplateArgs(spec v1alpha1.AnalysisTemplateSpec, args map[string]string) map[string]string {
	out := make(map[string]string, len(spec.Args))
	for _, d := range spec.Args {
		if v, ok := args[d.Name]; ok {
			out[d.Name] = v
		} else if d.Default != nil {
			out[d.Name] = *d.Default
		}
	}
	return out
}

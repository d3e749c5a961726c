package analysis

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"

	"fledge.dev/fledge/api/v1alpha1"
)

// Conditions are CEL expressions over two variables: `result`, the
// provider's answer (a double for Prometheus, any JSON value for web), and
// `args`, the template's arguments (map(string, string)). They must yield a
// bool; numbers of different types compare as numbers (1 == 1.0).

// costLimit bounds one evaluation of a condition (CEL's cost units): a
// condition is a comparison or two, not a program.
const costLimit = 100000

var (
	envOnce  sync.Once
	envs     map[bool]*cel.Env // by "result is a double"
	errEnvs  error
	argsType = cel.MapType(cel.StringType, cel.StringType)
)

// env returns the CEL environment of a provider's conditions.
func env(numeric bool) (*cel.Env, error) {
	envOnce.Do(func() {
		envs = map[bool]*cel.Env{}
		for _, numeric := range []bool{true, false} {
			result := cel.DynType
			if numeric {
				result = cel.DoubleType
			}
			e, err := cel.NewEnv(
				cel.Variable("result", result),
				cel.Variable("args", argsType),
				cel.CrossTypeNumericComparisons(true),
			)
			if err != nil {
				errEnvs = fmt.Errorf("CEL environment: %w", err)
				return
			}
			envs[numeric] = e
		}
	})
	return envs[numeric], errEnvs
}

// Condition is a compiled condition.
type Condition struct {
	Expr string
	prg  cel.Program
}

// Compile type-checks a condition for a provider whose result is a double
// (numeric) or any JSON value, and returns it ready to evaluate, with the
// arguments it names as args.NAME or args["NAME"].
func Compile(expr string, numeric bool) (*Condition, []string, error) {
	e, err := env(numeric)
	if err != nil {
		return nil, nil, err
	}
	ast, iss := e.Compile(expr)
	if iss.Err() != nil {
		return nil, nil, errors.New(strings.ReplaceAll(iss.Err().Error(), "\n", " "))
	}
	if t := ast.OutputType(); !t.IsExactType(cel.BoolType) && !t.IsExactType(cel.DynType) {
		return nil, nil, fmt.Errorf("yields %s, want bool", t)
	}
	prg, err := e.Program(ast, cel.CostLimit(costLimit))
	if err != nil {
		return nil, nil, fmt.Errorf("program: %w", err)
	}
	return &Condition{Expr: expr, prg: prg}, argsUsed(ast.NativeRep().Expr()), nil
}

// argsUsed lists the argument names an expression reads as args.NAME or
// args["NAME"].
func argsUsed(root celast.Expr) []string {
	var names []string
	celast.PreOrderVisit(root, celast.NewExprVisitor(func(e celast.Expr) {
		switch e.Kind() {
		case celast.SelectKind:
			s := e.AsSelect()
			if s.Operand().Kind() == celast.IdentKind && s.Operand().AsIdent() == "args" {
				names = append(names, s.FieldName())
			}
		case celast.CallKind:
			c := e.AsCall()
			if c.FunctionName() == "_[_]" && len(c.Args()) == 2 && c.Args()[0].Kind() == celast.IdentKind &&
				c.Args()[0].AsIdent() == "args" && c.Args()[1].Kind() == celast.LiteralKind {
				if s, ok := c.Args()[1].AsLiteral().Value().(string); ok {
					names = append(names, s)
				}
			}
		}
	}))
	return names
}

// Eval evaluates the condition; an error says what went wrong (a missing
// argument, a result of the wrong type).
func (c *Condition) Eval(result any, args map[string]string) (bool, error) {
	if args == nil {
		args = map[string]string{}
	}
	out, _, err := c.prg.Eval(map[string]any{"result": result, "args": args})
	if err != nil {
		return false, fmt.Errorf("condition %q: %w", c.Expr, err)
	}
	b, ok := out.Value().(bool)
	if !ok {
		return false, fmt.Errorf("condition %q yields %v (%s), not a bool", c.Expr, out.Value(), out.Type())
	}
	return b, nil
}

// CheckTemplate compiles every condition of a template and reports, as
// field errors, what does not compile, does not yield a bool, or names an
// argument the template does not declare. It is what the service calls at
// apply, after the template's own Validate.
func CheckTemplate(t *v1alpha1.AnalysisTemplate) []v1alpha1.FieldError {
	declared := map[string]bool{}
	for _, a := range t.Spec.Args {
		declared[a.Name] = true
	}
	var fes []v1alpha1.FieldError
	for i, m := range t.Spec.Metrics {
		numeric := m.Provider.Web == nil
		for _, c := range []struct{ field, expr string }{{"successCondition", m.SuccessCondition}, {"failureCondition", m.FailureCondition}} {
			if c.expr == "" {
				continue
			}
			field := fmt.Sprintf("spec.metrics[%d].%s", i, c.field)
			_, used, err := Compile(c.expr, numeric)
			if err != nil {
				fes = append(fes, v1alpha1.FieldError{Field: field, Message: fmt.Sprintf("CEL expression %q: %v", c.expr, err)})
				continue
			}
			for _, name := range used {
				if !declared[name] {
					fes = append(fes, v1alpha1.FieldError{Field: field, Message: fmt.Sprintf("uses args.%s, which is not a declared argument (add it to spec.args)", name)})
				}
			}
		}
	}
	return fes
}

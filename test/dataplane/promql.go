package dataplane

import (
	"fmt"
	"strings"

	"fledge.dev/fledge/api/v1alpha1"
)

// The PromQL of canary analysis on Traefik's metrics, written with the
// arguments a deployment fills ({{args.NAME}}, names from CONTRACT-13:
// productionNamespace, canaryNamespace, ingress, httpRoute, service, plus
// window, a PromQL range such as 30s). The data-plane tests run exactly
// these texts against the real Prometheus, so the built-in templates
// that copy them are proven on real traffic.
//
// Traefik names a service in its `service` label after the provider's
// configuration, not after the Kubernetes Service alone:
//   - ingress-nginx annotations (provider kubernetesIngressNGINX), the
//     beside-production layout: production is
//     <productionNamespace>-<ingress>-<service>-<port>@kubernetesingressnginx,
//     the canary the same with "-canary" before the "@": Traefik names the
//     canary after the production Ingress and Service it shadows, not
//     after the canary Ingress "<ingress>-canary" or its ExternalName
//     Service "<service>-canary";
//   - Gateway API (provider kubernetesGateway):
//     httproute-<routeNamespace>-<route>-gw-<gatewayNamespace>-<gateway>-ep-<entryPoint>-<ruleIndex>-<hash>-svc-<backendNamespace>-<service>-<backendRefIndex>@kubernetesgateway;
//     the route lives in the production namespace, the canary backend is
//     the Service of the canary namespace. The tester-header rule has its
//     own rule index and hash; the matchers below take every rule, since
//     each answer of the canary's pods counts.
const (
	// TraefikNGINXProductionService matches production's `service` label
	// on the NGINX annotations' beside-production layout.
	TraefikNGINXProductionService = `{{args.productionNamespace}}-{{args.ingress}}-{{args.service}}-[0-9]+@kubernetesingressnginx`
	// TraefikNGINXCanaryService matches the canary's.
	TraefikNGINXCanaryService = `{{args.productionNamespace}}-{{args.ingress}}-{{args.service}}-[0-9]+-canary@kubernetesingressnginx`
	// TraefikGatewayProductionService matches production's `service`
	// label on Gateway API.
	TraefikGatewayProductionService = `httproute-{{args.productionNamespace}}-{{args.httpRoute}}-gw-.+-svc-{{args.productionNamespace}}-{{args.service}}-[0-9]+@kubernetesgateway`
	// TraefikGatewayCanaryService matches the canary's.
	TraefikGatewayCanaryService = `httproute-{{args.productionNamespace}}-{{args.httpRoute}}-gw-.+-svc-{{args.canaryNamespace}}-{{args.service}}-[0-9]+@kubernetesgateway`

	// TraefikSuccessRate is the share of a side's requests (SERVICE, one
	// of the matchers above) answered without a 5xx over the window, from
	// 0 to 1. It is empty, not 1, when the side served nothing: no data
	// must never pass.
	TraefikSuccessRate = `sum(rate(traefik_service_requests_total{service=~"SERVICE",code!~"5.."}[{{args.window}}])) / sum(rate(traefik_service_requests_total{service=~"SERVICE"}[{{args.window}}]))`
	// TraefikLatencyP99 is the 99th percentile of a side's request
	// duration over the window, in seconds.
	TraefikLatencyP99 = `histogram_quantile(0.99, sum by (le) (rate(traefik_service_request_duration_seconds_bucket{service=~"SERVICE"}[{{args.window}}])))`
	// TraefikRequestRate is a side's requests per second over the window.
	TraefikRequestRate = `sum(rate(traefik_service_requests_total{service=~"SERVICE"}[{{args.window}}]))`
)

// Side is production or the canary.
type Side string

// The sides of a canary release.
const (
	Production Side = "production"
	Canary     Side = "canary"
)

// ServiceMatcher returns the `service` matcher of a side for a traffic
// provider (v1alpha1.TrafficProvider*).
func ServiceMatcher(provider string, side Side) (string, error) {
	switch {
	case provider == v1alpha1.TrafficProviderNGINX && side == Production:
		return TraefikNGINXProductionService, nil
	case provider == v1alpha1.TrafficProviderNGINX && side == Canary:
		return TraefikNGINXCanaryService, nil
	case provider == v1alpha1.TrafficProviderGatewayAPI && side == Production:
		return TraefikGatewayProductionService, nil
	case provider == v1alpha1.TrafficProviderGatewayAPI && side == Canary:
		return TraefikGatewayCanaryService, nil
	}
	return "", fmt.Errorf("no Traefik service matcher for provider %q, side %q", provider, side)
}

// Query fills a query (TraefikSuccessRate, ...) for a side: SERVICE
// becomes the side's matcher, then every {{args.NAME}} its argument. An
// argument the text names but args lacks is an error, as it would be
// when a template is applied.
func Query(query, provider string, side Side, args map[string]string) (string, error) {
	matcher, err := ServiceMatcher(provider, side)
	if err != nil {
		return "", err
	}
	q := strings.ReplaceAll(query, "SERVICE", matcher)
	var missing []string
	for {
		i := strings.Index(q, "{{args.")
		if i < 0 {
			break
		}
		j := strings.Index(q[i:], "}}")
		if j < 0 {
			return "", fmt.Errorf("query %q: an {{args.NAME}} is not closed", query)
		}
		name := q[i+len("{{args.") : i+j]
		v, ok := args[name]
		if !ok {
			missing = append(missing, name)
			v = "<" + name + ">"
		}
		q = q[:i] + v + q[i+j+2:]
	}
	if len(missing) > 0 {
		return "", fmt.Errorf("query %q: arguments %s not given", query, strings.Join(missing, ", "))
	}
	return q, nil
}

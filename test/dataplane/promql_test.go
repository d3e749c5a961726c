package dataplane

import (
	"strings"
	"testing"

	"fledge.dev/fledge/api/v1alpha1"
)

func TestQuery(t *testing.T) {
	t.Parallel()
	args := map[string]string{
		"productionNamespace": "shop-prod", "canaryNamespace": "shop-canary",
		"ingress": "web-ingress", "httpRoute": "web", "service": "web-service", "window": "30s",
	}
	for _, tc := range []struct {
		name, query, provider string
		side                  Side
		args                  map[string]string
		want, err             string
	}{
		{
			name: "nginx canary success rate", query: TraefikSuccessRate, provider: v1alpha1.TrafficProviderNGINX, side: Canary, args: args,
			want: `sum(rate(traefik_service_requests_total{service=~"shop-prod-web-ingress-web-service-[0-9]+-canary@kubernetesingressnginx",code!~"5.."}[30s])) / sum(rate(traefik_service_requests_total{service=~"shop-prod-web-ingress-web-service-[0-9]+-canary@kubernetesingressnginx"}[30s]))`,
		},
		{
			name: "gateway production p99", query: TraefikLatencyP99, provider: v1alpha1.TrafficProviderGatewayAPI, side: Production, args: args,
			want: `histogram_quantile(0.99, sum by (le) (rate(traefik_service_request_duration_seconds_bucket{service=~"httproute-shop-prod-web-gw-.+-svc-shop-prod-web-service-[0-9]+@kubernetesgateway"}[30s])))`,
		},
		{
			name: "gateway canary rate", query: TraefikRequestRate, provider: v1alpha1.TrafficProviderGatewayAPI, side: Canary, args: args,
			want: `sum(rate(traefik_service_requests_total{service=~"httproute-shop-prod-web-gw-.+-svc-shop-canary-web-service-[0-9]+@kubernetesgateway"}[30s]))`,
		},
		{name: "missing arguments", query: TraefikRequestRate, provider: v1alpha1.TrafficProviderGatewayAPI, side: Canary, args: map[string]string{"window": "1m"}, err: "arguments productionNamespace, httpRoute, canaryNamespace, service not given"},
		{name: "unknown provider", query: TraefikRequestRate, provider: "istio", side: Canary, args: args, err: `provider "istio"`},
		{name: "unterminated", query: "up[{{args.window", provider: v1alpha1.TrafficProviderNGINX, side: Canary, args: args, err: "is not closed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := Query(tc.query, tc.provider, tc.side, tc.args)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Query error = %v, want one with %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("Query =\n%s\nwant\n%s", got, tc.want)
			}
		})
	}
}

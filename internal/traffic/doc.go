// Package traffic defines how Fledge moves requests between the production
// and the canary version of an application: one small Router interface
// (weight, read back, tester header route, reset), implemented by one
// package per provider: nginx/ (ingress-nginx's canary annotations, in two
// layouts) and gatewayapi/ (HTTPRoute backend weights and header matches).
//
// Deploying the manifests is the job of package kube. Each provider offers
// pure functions that prepare the canary and production forms of the
// manifests (such as nginx.MarkCanary) and a Router that edits only the
// routing objects.
package traffic

// Package traffic defines how Fledge moves requests between the production
// and the canary version of an application: one small Router interface,
// implemented by one package per provider (nginx/ for the NGINX ingress
// controller's canary annotations).
//
// A Router only sets and reads the share of requests sent to the canary.
// Deploying the canary and production objects is the job of package kube;
// a provider may offer helpers that prepare the manifests for it (such as
// nginx.MarkCanary) but never applies them itself.
package traffic

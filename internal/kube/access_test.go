package kube

import (
	"errors"
	"fmt"
	"slices"
	"testing"
)

func TestNeedString(t *testing.T) {
	tests := []struct {
		need Need
		want string
	}{
		{Need{Verb: "patch", Group: "networking.k8s.io", Resource: "ingresses", Namespace: "web-canary"}, "patch ingresses.networking.k8s.io in namespace web-canary"},
		{Need{Verb: "create", Resource: "services", Namespace: "web"}, "create services in namespace web"},
		{Need{Verb: "create", Resource: "namespaces"}, "create namespaces (cluster-scoped)"},
		{Need{Verb: "get", Group: "gateway.networking.k8s.io", Resource: "httproutes", Namespace: "prod"}, "get httproutes.gateway.networking.k8s.io in namespace prod"},
	}
	for _, tt := range tests {
		if got := tt.need.String(); got != tt.want {
			t.Errorf("%+v: got %q, want %q", tt.need, got, tt.want)
		}
	}
}

func TestMissingPermissionsError(t *testing.T) {
	err := fmt.Errorf("canary: %w", &MissingPermissionsError{Missing: []Need{
		{Verb: "patch", Group: "networking.k8s.io", Resource: "ingresses", Namespace: "web-canary"},
		{Verb: "create", Resource: "namespaces"},
	}})
	want := "canary: missing permissions: cannot patch ingresses.networking.k8s.io in namespace web-canary; cannot create namespaces (cluster-scoped); grant them to the environment's identity (nothing was applied)"
	if err.Error() != want {
		t.Errorf("got %q\nwant %q", err, want)
	}
	if !errors.Is(err, ErrForbidden) {
		t.Error("errors.Is(err, ErrForbidden) is false")
	}
	var mp *MissingPermissionsError
	if !errors.As(err, &mp) || len(mp.Missing) != 2 {
		t.Errorf("errors.As: %v", mp)
	}
}

func TestDedupNeeds(t *testing.T) {
	ing := func(verb, ns string) Need {
		return Need{Verb: verb, Group: "networking.k8s.io", Resource: "ingresses", Namespace: ns}
	}
	svc := func(verb, ns string) Need { return Need{Verb: verb, Resource: "services", Namespace: ns} }
	tests := []struct {
		name string
		in   []Need
		want []Need
	}{
		{name: "empty", in: nil, want: nil},
		{
			name: "repeated objects of one kind ask once",
			in:   slices.Concat(objectNeeds("", "services", "a"), objectNeeds("", "services", "a")),
			want: []Need{svc("get", "a"), svc("create", "a"), svc("patch", "a")},
		},
		{
			name: "by namespace, then resource, verbs get create patch first",
			in:   []Need{ing("patch", "b"), svc("delete", "a"), svc("patch", "a"), ing("get", "b"), svc("get", "a"), {Verb: "create", Resource: "namespaces"}},
			want: []Need{{Verb: "create", Resource: "namespaces"}, svc("get", "a"), svc("patch", "a"), svc("delete", "a"), ing("get", "b"), ing("patch", "b")},
		},
		{
			name: "same resource in two namespaces stays twice",
			in:   []Need{ing("patch", "b"), ing("patch", "a"), ing("patch", "b")},
			want: []Need{ing("patch", "a"), ing("patch", "b")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := dedupNeeds(tt.in); !slices.Equal(got, tt.want) {
				t.Errorf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

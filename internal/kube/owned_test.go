package kube

import (
	"errors"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

func TestConflictError(t *testing.T) {
	t.Parallel()
	obj := &unstructured.Unstructured{}
	obj.SetKind("HTTPRoute")
	obj.SetName("webpage")
	obj.SetNamespace("prod")
	tg := target{obj: obj}
	status := func(causes ...metav1.StatusCause) error {
		return &apierrors.StatusError{ErrStatus: metav1.Status{
			Status: metav1.StatusFailure, Code: 409, Reason: metav1.StatusReasonConflict,
			Message: "Apply failed with 2 conflicts", Details: &metav1.StatusDetails{Causes: causes},
		}}
	}
	tests := []struct {
		name         string
		err          error
		wantNil      bool
		wantManagers string
		wantFields   string
	}{
		{
			name: "two managers",
			err: status(
				metav1.StatusCause{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "kubectl-patch" using gateway.networking.k8s.io/v1`, Field: ".spec.rules"},
				metav1.StatusCause{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "argo" using gateway.networking.k8s.io/v1`, Field: ".spec.hostnames"},
				metav1.StatusCause{Type: metav1.CauseTypeFieldManagerConflict, Message: `conflict with "argo" using gateway.networking.k8s.io/v1`, Field: ".spec.parentRefs"},
			),
			wantManagers: "argo,kubectl-patch", wantFields: ".spec.rules,.spec.hostnames,.spec.parentRefs",
		},
		{name: "a stale write, not an ownership conflict", err: status(), wantNil: true},
		{name: "not a status", err: errors.New("boom"), wantNil: true},
	}
	for _, tt := range tests {
		ce := conflictError(tg, tt.err)
		if tt.wantNil {
			if ce != nil {
				t.Errorf("%s: got %v, want nil", tt.name, ce)
			}
			continue
		}
		if ce == nil {
			t.Fatalf("%s: got nil", tt.name)
		}
		if got := strings.Join(ce.Managers, ","); got != tt.wantManagers {
			t.Errorf("%s: managers %s, want %s", tt.name, got, tt.wantManagers)
		}
		if got := strings.Join(ce.Fields, ","); got != tt.wantFields {
			t.Errorf("%s: fields %s, want %s", tt.name, got, tt.wantFields)
		}
		if !errors.Is(ce, ErrOwnedByOthers) || !strings.Contains(ce.Error(), "HTTPRoute prod/webpage") {
			t.Errorf("%s: error %q", tt.name, ce)
		}
	}
}

package kube

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// CheckNamespaces refuses objects whose manifests name a namespace Fledge
// would not deploy them into. Fledge sets every object's namespace to the
// namespace of the stage that applies it, and the same manifests go to
// every namespace in namespaces (the canary's, then production's): an
// explicit metadata.namespace would be silently moved, so it is allowed
// only when it is the one namespace the objects go to. The error names
// every such object.
func CheckNamespaces(objs []*unstructured.Unstructured, namespaces ...string) error {
	var errs []error
	for _, o := range objs {
		ns := o.GetNamespace()
		if ns == "" || (len(namespaces) == 1 && ns == namespaces[0]) {
			continue
		}
		errs = append(errs, &ObjectError{Kind: o.GetKind(), Name: o.GetName(), Err: fmt.Errorf(
			"names namespace %q, but Fledge deploys the manifests into %s and sets each object's namespace itself: remove metadata.namespace",
			ns, describeNamespaces(namespaces))})
	}
	return errors.Join(errs...)
}

func describeNamespaces(namespaces []string) string {
	quoted := make([]string, len(namespaces))
	for i, ns := range namespaces {
		quoted[i] = fmt.Sprintf("%q", ns)
	}
	if len(quoted) == 1 {
		return "namespace " + quoted[0]
	}
	return "namespaces " + strings.Join(quoted, " and ")
}

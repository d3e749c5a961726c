package kube

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/yaml"
)

// Resources listed by Summary.
var (
	deploymentsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "deployments"}
	replicaSetsGVR = schema.GroupVersionResource{Group: "apps", Version: "v1", Resource: "replicasets"}
	servicesGVR    = schema.GroupVersionResource{Version: "v1", Resource: "services"}
	ingressesGVR   = schema.GroupVersionResource{Group: "networking.k8s.io", Version: "v1", Resource: "ingresses"}
)

// Summary lists, like `kubectl get deploy,rs,pods,svc,ingress`, the
// deployments (READY x/y and images), replica sets, pods (READY, STATUS),
// services and ingresses of ns, each ingress followed by its annotations.
// An empty or missing namespace gives "No resources found in <ns>
// namespace.".
func (c *Client) Summary(ctx context.Context, ns string) (string, error) {
	var deps []appsv1.Deployment
	var rss []appsv1.ReplicaSet
	var pods []corev1.Pod
	var svcs []corev1.Service
	var ings []networkingv1.Ingress
	for _, l := range []struct {
		gvr schema.GroupVersionResource
		fn  func(*unstructured.UnstructuredList) error
	}{
		{deploymentsGVR, func(l *unstructured.UnstructuredList) error { return convertList(l, &deps) }},
		{replicaSetsGVR, func(l *unstructured.UnstructuredList) error { return convertList(l, &rss) }},
		{podsGVR, func(l *unstructured.UnstructuredList) error { return convertList(l, &pods) }},
		{servicesGVR, func(l *unstructured.UnstructuredList) error { return convertList(l, &svcs) }},
		{ingressesGVR, func(l *unstructured.UnstructuredList) error { return convertList(l, &ings) }},
	} {
		list, err := c.listObjects(ctx, l.gvr, ns)
		if err != nil {
			return "", fmt.Errorf("summary of namespace %s: %w", ns, err)
		}
		if err := l.fn(list); err != nil {
			return "", fmt.Errorf("summary of namespace %s: read %s: %w", ns, l.gvr.Resource, err)
		}
	}
	if len(deps)+len(rss)+len(pods)+len(svcs)+len(ings) == 0 {
		return fmt.Sprintf("No resources found in %s namespace.\n", ns), nil
	}

	var tables []string
	if len(deps) > 0 {
		rows := [][]string{{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "IMAGES"}}
		for _, d := range deps {
			desired := int32(1)
			if d.Spec.Replicas != nil {
				desired = *d.Spec.Replicas
			}
			rows = append(rows, []string{
				"deployment.apps/" + d.Name,
				fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, desired),
				itoa(d.Status.UpdatedReplicas), itoa(d.Status.AvailableReplicas),
				images(d.Spec.Template.Spec),
			})
		}
		tables = append(tables, table(rows))
	}
	if len(rss) > 0 {
		rows := [][]string{{"NAME", "DESIRED", "CURRENT", "READY", "IMAGES"}}
		for _, rs := range rss {
			desired := int32(1)
			if rs.Spec.Replicas != nil {
				desired = *rs.Spec.Replicas
			}
			rows = append(rows, []string{
				"replicaset.apps/" + rs.Name, itoa(desired), itoa(rs.Status.Replicas),
				itoa(rs.Status.ReadyReplicas), images(rs.Spec.Template.Spec),
			})
		}
		tables = append(tables, table(rows))
	}
	if len(pods) > 0 {
		rows := [][]string{{"NAME", "READY", "STATUS", "RESTARTS"}}
		for _, p := range pods {
			ready, restarts := 0, int32(0)
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
				restarts += cs.RestartCount
			}
			rows = append(rows, []string{
				"pod/" + p.Name, fmt.Sprintf("%d/%d", ready, len(p.Spec.Containers)),
				podStatus(&p), itoa(restarts),
			})
		}
		tables = append(tables, table(rows))
	}
	if len(svcs) > 0 {
		rows := [][]string{{"NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)"}}
		for _, s := range svcs {
			rows = append(rows, []string{
				"service/" + s.Name, string(s.Spec.Type), firstNonEmpty(s.Spec.ClusterIP, "<none>"),
				externalIPs(&s), servicePorts(s.Spec.Ports),
			})
		}
		tables = append(tables, table(rows))
	}
	if len(ings) > 0 {
		rows := [][]string{{"NAME", "CLASS", "HOSTS", "PATHS", "ADDRESS"}}
		for _, ing := range ings {
			rows = append(rows, ingressRow(&ing))
		}
		t := table(rows)
		for _, ing := range ings {
			if ann := ingressAnnotations(&ing); ann != "" {
				t += "\ningress.networking.k8s.io/" + ing.Name + " annotations:\n" + ann
			}
		}
		tables = append(tables, t)
	}
	return strings.Join(tables, "\n"), nil
}

// listObjects lists every object of gvr in ns, retrying transient errors.
func (c *Client) listObjects(ctx context.Context, gvr schema.GroupVersionResource, ns string) (*unstructured.UnstructuredList, error) {
	var list *unstructured.UnstructuredList
	err := retry(ctx, func(ctx context.Context) error {
		var err error
		list, err = c.dyn.Resource(gvr).Namespace(ns).List(ctx, metav1.ListOptions{})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", gvr.Resource, err)
	}
	return list, nil
}

// listTyped lists every object of gvr in ns as typed objects, sorted by
// name.
func listTyped[T any](ctx context.Context, c *Client, gvr schema.GroupVersionResource, ns string, out *[]T) error {
	list, err := c.listObjects(ctx, gvr, ns)
	if err != nil {
		return fmt.Errorf("namespace %s: %w", ns, err)
	}
	if err := convertList(list, out); err != nil {
		return fmt.Errorf("namespace %s: read %s: %w", ns, gvr.Resource, err)
	}
	return nil
}

// convertList converts the items of an unstructured list into typed
// objects, sorted by name.
func convertList[T any](l *unstructured.UnstructuredList, out *[]T) error {
	items := l.Items
	sort.Slice(items, func(i, j int) bool { return items[i].GetName() < items[j].GetName() })
	*out = make([]T, len(items))
	for i := range items {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(items[i].Object, &(*out)[i]); err != nil {
			return fmt.Errorf("%s/%s: %w", items[i].GetKind(), items[i].GetName(), err)
		}
	}
	return nil
}

// table aligns rows in columns three spaces apart, as kubectl does.
func table(rows [][]string) string {
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 8, 3, ' ', 0)
	for _, r := range rows {
		fmt.Fprintln(w, strings.Join(r, "\t"))
	}
	_ = w.Flush() // writes to a strings.Builder cannot fail
	// tabwriter pads the last cell of short rows; trim trailing spaces.
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	return strings.Join(lines, "\n")
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

// images lists the container images of a pod template.
func images(spec corev1.PodSpec) string {
	var out []string
	for _, c := range spec.Containers {
		out = append(out, c.Image)
	}
	return strings.Join(out, ",")
}

// podStatus is kubectl's STATUS column in short: the reason a container
// waits or failed, else Terminating, else the phase.
func podStatus(p *corev1.Pod) string {
	if p.DeletionTimestamp != nil {
		return "Terminating"
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			return w.Reason
		}
		if t := cs.State.Terminated; t != nil && t.Reason != "" && p.Status.Phase != corev1.PodSucceeded {
			return t.Reason
		}
	}
	if p.Status.Reason != "" {
		return p.Status.Reason
	}
	return firstNonEmpty(string(p.Status.Phase), string(corev1.PodPending))
}

// externalIPs is kubectl's EXTERNAL-IP column.
func externalIPs(s *corev1.Service) string {
	ips := append([]string{}, s.Spec.ExternalIPs...)
	for _, in := range s.Status.LoadBalancer.Ingress {
		ips = append(ips, firstNonEmpty(in.IP, in.Hostname))
	}
	if len(ips) == 0 {
		if s.Spec.Type == corev1.ServiceTypeLoadBalancer {
			return "<pending>"
		}
		return "<none>"
	}
	return strings.Join(ips, ",")
}

// servicePorts is kubectl's PORT(S) column: "8080/TCP", "80:30080/TCP".
func servicePorts(ports []corev1.ServicePort) string {
	var out []string
	for _, p := range ports {
		s := strconv.Itoa(int(p.Port))
		if p.NodePort != 0 {
			s += ":" + strconv.Itoa(int(p.NodePort))
		}
		out = append(out, s+"/"+firstNonEmpty(string(p.Protocol), "TCP"))
	}
	if len(out) == 0 {
		return "<none>"
	}
	return strings.Join(out, ",")
}

// ingressRow is one line of the ingress table.
func ingressRow(ing *networkingv1.Ingress) []string {
	class := ing.Annotations["kubernetes.io/ingress.class"]
	if ing.Spec.IngressClassName != nil {
		class = *ing.Spec.IngressClassName
	}
	var hosts, paths []string
	for _, r := range ing.Spec.Rules {
		hosts = append(hosts, firstNonEmpty(r.Host, "*"))
		if r.HTTP == nil {
			continue
		}
		for _, p := range r.HTTP.Paths {
			paths = append(paths, p.Path)
		}
	}
	var addrs []string
	for _, in := range ing.Status.LoadBalancer.Ingress {
		addrs = append(addrs, firstNonEmpty(in.IP, in.Hostname))
	}
	return []string{
		"ingress.networking.k8s.io/" + ing.Name, firstNonEmpty(class, "<none>"),
		firstNonEmpty(strings.Join(dedupe(hosts), ","), "*"),
		firstNonEmpty(strings.Join(paths, ","), "<none>"),
		strings.Join(addrs, ","),
	}
}

// ingressAnnotations renders an ingress's annotations as indented YAML
// ("  nginx.ingress.kubernetes.io/canary-weight: \"25\""), sorted, without
// kubectl's last-applied copy.
func ingressAnnotations(ing *networkingv1.Ingress) string {
	ann := make(map[string]string, len(ing.Annotations))
	for k, v := range ing.Annotations {
		if k != lastAppliedAnnotation {
			ann[k] = v
		}
	}
	if len(ann) == 0 {
		return ""
	}
	out, err := yaml.Marshal(ann)
	if err != nil {
		return ""
	}
	lines := strings.SplitAfter(strings.TrimSuffix(string(out), "\n"), "\n")
	return "  " + strings.Join(lines, "  ") + "\n"
}

// dedupe drops repeated strings, keeping the first of each.
func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

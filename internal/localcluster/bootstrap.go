package localcluster

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Names of what Start creates in the cluster, and the kwok annotations tests
// use.
const (
	// NodeName is the one fake node; pods scheduled to it become Ready.
	NodeName = "kwok-node-0"
	// NodePodCapacity is the fake node's pod capacity: far above a real
	// node's 110, since test suites run hundreds of small fake pods and
	// one benchmark run thousands (the scale benchmark's 1,000 pipelines
	// keep about 2,000, and the replicas benchmark's releases come after).
	NodePodCapacity = "20000"
	// NodeAnnotation marks the nodes kwok manages (value "fake").
	NodeAnnotation = "kwok.x-k8s.io/node"
	// CustomStatusAnnotation on a pod, with value "custom", makes kwok leave
	// the pod's status alone, so a test can set it (e.g. unready).
	CustomStatusAnnotation = "kwok.x-k8s.io/status"
	// IngressClassName is the IngressClass Start creates.
	IngressClassName = "nginx"
	// IngressController is the controller named by that IngressClass.
	IngressController = "k8s.io/ingress-nginx"
)

// bootstrap creates the node and the IngressClass, then waits for the node
// to be Ready, failing early if any component dies.
func (c *Cluster) bootstrap(ctx context.Context) error {
	if err := c.createWithRetry(ctx, "node "+NodeName, func(ctx context.Context) error {
		_, err := c.clientset.CoreV1().Nodes().Create(ctx, fakeNode(), metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	if err := c.createWithRetry(ctx, "ingressclass "+IngressClassName, func(ctx context.Context) error {
		_, err := c.clientset.NetworkingV1().IngressClasses().Create(ctx, &networkingv1.IngressClass{
			ObjectMeta: metav1.ObjectMeta{Name: IngressClassName},
			Spec:       networkingv1.IngressClassSpec{Controller: IngressController},
		}, metav1.CreateOptions{})
		return err
	}); err != nil {
		return err
	}
	return c.waitNodeReady(ctx)
}

// createWithRetry retries create while the fresh API server settles; an
// existing object counts as created.
func (c *Cluster) createWithRetry(ctx context.Context, what string, create func(context.Context) error) error {
	var last error
	err := poll(ctx, 200*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := c.checkComponents(); err != nil {
			return false, err
		}
		last = create(ctx)
		if apierrors.IsInvalid(last) || apierrors.IsBadRequest(last) {
			return false, last // a bug in what we send: retrying won't help
		}
		return last == nil || apierrors.IsAlreadyExists(last), nil
	})
	if err != nil {
		if last != nil && !errors.Is(err, last) {
			err = fmt.Errorf("%w (last error: %w)", err, last)
		}
		return fmt.Errorf("create %s: %w", what, err)
	}
	return nil
}

func (c *Cluster) waitNodeReady(ctx context.Context) error {
	begin := time.Now()
	var last error
	err := poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		if err := c.checkComponents(); err != nil {
			return false, err
		}
		node, err := c.clientset.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			last = err
			return false, nil
		}
		last = fmt.Errorf("node %s not Ready and untainted", NodeName)
		return nodeReady(node), nil
	})
	if err == nil {
		c.logger.Info("node ready", "node", NodeName, "wait", time.Since(begin).Round(time.Millisecond).String())
		return nil
	}
	var ce *ComponentError
	if errors.As(err, &ce) {
		return err
	}
	// kwok is the one that marks the node Ready.
	c.mu.Lock()
	kwok := c.procLocked(ComponentKwok)
	c.mu.Unlock()
	if last != nil {
		err = fmt.Errorf("%w (last check: %w)", err, last)
	}
	if kwok == nil {
		return fmt.Errorf("wait for node %s: %w", NodeName, err)
	}
	return kwok.componentError(fmt.Errorf("wait for node %s Ready: %w", NodeName, err))
}

// checkComponents returns the ComponentError of the first component found
// dead.
func (c *Cluster) checkComponents() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.procs {
		if err := p.checkAlive(); err != nil {
			return err
		}
	}
	return nil
}

// nodeReady reports whether node is Ready and no longer carries the taints
// the node lifecycle controller puts on a new node before kwok reports it
// Ready; until they go, the scheduler leaves pods Pending.
func nodeReady(node *corev1.Node) bool {
	for _, taint := range node.Spec.Taints {
		if taint.Key == corev1.TaintNodeNotReady || taint.Key == corev1.TaintNodeUnreachable {
			return false
		}
	}
	for _, cond := range node.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// fakeNode is the node kwok manages. The API server keeps the status given
// at creation, which is how the node gets its allocatable resources.
func fakeNode() *corev1.Node {
	resources := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("256Gi"),
		corev1.ResourcePods:   resource.MustParse(NodePodCapacity),
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: NodeName,
			Annotations: map[string]string{
				NodeAnnotation:                 "fake",
				"node.alpha.kubernetes.io/ttl": "0",
			},
			Labels: map[string]string{
				"kubernetes.io/hostname": NodeName,
				"kubernetes.io/os":       "linux",
				"kubernetes.io/arch":     "amd64",
				"kubernetes.io/role":     "agent",
				"type":                   "kwok",
			},
		},
		Status: corev1.NodeStatus{
			Capacity:    resources,
			Allocatable: resources.DeepCopy(),
			NodeInfo: corev1.NodeSystemInfo{
				Architecture:    "amd64",
				OperatingSystem: "linux",
				KubeletVersion:  "fake",
			},
			Phase: corev1.NodeRunning,
		},
	}
}

// CreateNamespace creates namespace name (an existing one is fine) and waits
// up to a minute for its "default" ServiceAccount, without which pods in it
// are rejected.
func (c *Cluster) CreateNamespace(ctx context.Context, name string) error {
	_, err := c.clientset.CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var last error
	err = poll(ctx, 100*time.Millisecond, func(ctx context.Context) (bool, error) {
		_, last = c.clientset.CoreV1().ServiceAccounts(name).Get(ctx, "default", metav1.GetOptions{})
		return last == nil, nil
	})
	if err != nil {
		if last != nil {
			err = fmt.Errorf("%w (last error: %w)", err, last)
		}
		return fmt.Errorf("wait for default service account in namespace %s: %w", name, err)
	}
	return nil
}

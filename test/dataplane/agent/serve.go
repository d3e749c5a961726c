package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func serve(args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig of the API server")
	nsList := fs.String("namespaces", "", "comma-separated namespaces whose pods and Services to serve")
	bridgeListen := fs.String("bridge-listen", "", "address inside the namespace where the API server is expected (host:port of the kubeconfig)")
	bridgeSocket := fs.String("bridge-socket", "", "unix socket, outside, that reaches the API server")
	hostsPath := fs.String("hosts", "/etc/hosts", "hosts file to write the Services' names to")
	readyFile := fs.String("ready-file", "", "file written once everything is served")
	drain := fs.Duration("drain", 10*time.Second, "how long a pod's address keeps answering after the pod is gone, like a terminating pod")
	if err := fs.Parse(args); err != nil {
		return err
	}
	log.SetFlags(log.Ltime | log.Lmicroseconds)
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()

	if *bridgeListen != "" {
		if err := bridge(ctx, *bridgeListen, *bridgeSocket); err != nil {
			return err
		}
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	a := &agent{
		bindings: map[string]*binding{},
		hosts:    *hostsPath,
		drain:    *drain,
		kick:     make(chan struct{}, 1),
	}
	var synced []cache.InformerSynced
	for _, ns := range strings.Split(*nsList, ",") {
		if ns == "" {
			continue
		}
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		pods, svcs, slices := f.Core().V1().Pods(), f.Core().V1().Services(), f.Discovery().V1().EndpointSlices()
		for _, inf := range []cache.SharedIndexInformer{pods.Informer(), svcs.Informer(), slices.Informer()} {
			if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
				AddFunc:    func(any) { a.poke() },
				UpdateFunc: func(any, any) { a.poke() },
				DeleteFunc: func(any) { a.poke() },
			}); err != nil {
				return err
			}
			synced = append(synced, inf.HasSynced)
		}
		a.pods = append(a.pods, pods.Lister())
		a.svcs = append(a.svcs, svcs.Lister())
		a.slices = append(a.slices, slices.Lister())
		f.Start(ctx.Done())
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		return errors.New("informers did not sync")
	}
	a.reconcile()
	if *readyFile != "" {
		if err := os.WriteFile(*readyFile, []byte("ready\n"), 0o600); err != nil {
			return err
		}
	}
	log.Printf("serving namespaces %s", *nsList)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			a.closeAll()
			return nil
		case <-a.kick:
		case <-tick.C:
		}
		a.reconcile()
	}
}

// bridge listens on addr and connects each connection to the unix socket,
// which the test process connects to the API server outside.
func bridge(ctx context.Context, addr, socket string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("bridge listen %s: %w", addr, err)
	}
	go func() {
		<-ctx.Done()
		ln.Close()
	}()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				u, err := net.Dial("unix", socket)
				if err != nil {
					log.Printf("bridge: %v", err)
					return
				}
				defer u.Close()
				done := make(chan struct{}, 2)
				go func() { _, _ = io.Copy(u, c); done <- struct{}{} }()
				go func() { _, _ = io.Copy(c, u); done <- struct{}{} }()
				<-done
			}()
		}
	}()
	return nil
}

// podInfo is what a pod's address answers with.
type podInfo struct {
	ns, name, version string
	// fault is how the pod misbehaves (FAULT_* variables), faultErr why
	// they do not parse.
	fault    fault
	faultErr error
	// requests numbers the pod's requests, for its faults.
	requests *atomic.Uint64
}

// binding is one listening address.
type binding struct {
	srv       *http.Server
	removedAt time.Time
	// owner is the pod that last had this address (pod addresses only).
	owner atomic.Pointer[podInfo]
	// svc is the namespace/name of the Service (ClusterIP addresses only).
	svc string
	ip  string
	// drainLogged is set once an answer after removal was logged.
	drainLogged atomic.Bool
}

// gonePod is a pod whose address is no longer in the cluster.
type gonePod struct {
	info *podInfo
	at   time.Time
}

type agent struct {
	pods   []podLister
	svcs   []svcLister
	slices []sliceLister
	hosts  string
	drain  time.Duration
	kick   chan struct{}

	mu       sync.Mutex
	bindings map[string]*binding
	byIP     map[string]*podInfo
	// gone keeps the pods whose addresses left the cluster, for the drain
	// time: an EndpointSlice may still list them, and an address keeps
	// answering as its pod for a while, like a terminating pod.
	gone      map[string]gonePod
	endpoints map[string][]string // "ns/svc" -> ready pod IPs
	// slicePod is the pod each EndpointSlice address belongs to
	// ("ns/name"): kwok gives a deleted pod's address to the next pod.
	slicePod  map[string]string
	rr        atomic.Uint64
	lastHosts string
	// reqs are the pods' request counters; only reconcile touches it.
	reqs counters
}

type (
	podLister interface {
		List(labels.Selector) ([]*corev1.Pod, error)
	}
	svcLister interface {
		List(labels.Selector) ([]*corev1.Service, error)
	}
	sliceLister interface {
		List(labels.Selector) ([]*discoveryv1.EndpointSlice, error)
	}
)

func (a *agent) poke() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// version is a pod's version: its VERSION variable, else its image tag.
func version(p *corev1.Pod) string {
	if len(p.Spec.Containers) == 0 {
		return "unknown"
	}
	if v := env(p, "VERSION"); v != "" {
		return v
	}
	c := p.Spec.Containers[0]
	if i := strings.LastIndex(c.Image, ":"); i >= 0 && !strings.Contains(c.Image[i:], "/") {
		return c.Image[i+1:]
	}
	return "unknown"
}

// reconcile binds what the cluster has, drains what it lost, and rewrites
// the hosts file.
func (a *agent) reconcile() {
	want := map[string]*podInfo{} // pod address -> pod
	byIP := map[string]*podInfo{}
	svcAddrs := map[string]string{} // ClusterIP address -> ns/name
	endpoints := map[string][]string{}
	slicePod := map[string]string{}
	var hosts []string
	for _, l := range a.pods {
		pods, _ := l.List(labels.Everything())
		for _, p := range pods {
			if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			info := &podInfo{ns: p.Namespace, name: p.Name, version: version(p), requests: a.reqs.of(p.Namespace + "/" + p.Name)}
			info.fault, info.faultErr = podFault(p)
			if old, ok := byIP[p.Status.PodIP]; ok && p.DeletionTimestamp != nil {
				info = old // a pod being deleted yields its address to the new one
			}
			byIP[p.Status.PodIP] = info
			for _, c := range p.Spec.Containers {
				for _, port := range c.Ports {
					if port.Protocol == "" || port.Protocol == corev1.ProtocolTCP {
						want[net.JoinHostPort(p.Status.PodIP, strconv.Itoa(int(port.ContainerPort)))] = byIP[p.Status.PodIP]
					}
				}
			}
		}
	}
	for _, l := range a.svcs {
		svcs, _ := l.List(labels.Everything())
		for _, s := range svcs {
			if s.Spec.ClusterIP == "" || s.Spec.ClusterIP == corev1.ClusterIPNone {
				continue
			}
			key := s.Namespace + "/" + s.Name
			for _, port := range s.Spec.Ports {
				svcAddrs[net.JoinHostPort(s.Spec.ClusterIP, strconv.Itoa(int(port.Port)))] = key
			}
			hosts = append(hosts, fmt.Sprintf("%s %s.%s.svc.cluster.local %s.%s.svc %s.%s", s.Spec.ClusterIP, s.Name, s.Namespace, s.Name, s.Namespace, s.Name, s.Namespace))
		}
	}
	for _, l := range a.slices {
		slices, _ := l.List(labels.Everything())
		for _, sl := range slices {
			key := sl.Namespace + "/" + sl.Labels[discoveryv1.LabelServiceName]
			for _, ep := range sl.Endpoints {
				if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
					continue
				}
				endpoints[key] = append(endpoints[key], ep.Addresses...)
				if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" {
					for _, ip := range ep.Addresses {
						slicePod[ip] = sl.Namespace + "/" + ep.TargetRef.Name
					}
				}
			}
		}
	}

	a.mu.Lock()
	now := time.Now()
	if a.gone == nil {
		a.gone = map[string]gonePod{}
	}
	for ip, info := range a.byIP {
		if _, ok := byIP[ip]; !ok {
			if _, known := a.gone[ip]; !known {
				a.gone[ip] = gonePod{info: info, at: now}
			}
		}
	}
	for ip, g := range a.gone {
		if _, back := byIP[ip]; back || now.Sub(g.at) >= a.drain {
			delete(a.gone, ip)
		}
	}
	a.byIP, a.endpoints, a.slicePod = byIP, endpoints, slicePod
	live := map[string]bool{}
	for _, info := range byIP {
		live[info.ns+"/"+info.name] = true
	}
	for _, g := range a.gone {
		live[g.info.ns+"/"+g.info.name] = true
	}
	a.reqs.keep(live)
	for addr, info := range want {
		b := a.bindings[addr]
		if b == nil {
			b = a.bind(addr, "")
			if b == nil {
				continue
			}
		}
		b.removedAt = time.Time{}
		b.drainLogged.Store(false)
		b.owner.Store(info)
	}
	for addr, key := range svcAddrs {
		b := a.bindings[addr]
		if b == nil {
			b = a.bind(addr, key)
			if b == nil {
				continue
			}
		}
		b.svc, b.removedAt = key, time.Time{}
	}
	for addr, b := range a.bindings {
		_, isPod := want[addr]
		_, isSvc := svcAddrs[addr]
		if isPod || isSvc {
			continue
		}
		if b.removedAt.IsZero() {
			b.removedAt = now
			continue
		}
		if now.Sub(b.removedAt) >= a.drain {
			delete(a.bindings, addr)
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
				defer cancel()
				_ = b.srv.Shutdown(ctx)
			}()
			log.Printf("unbound %s after draining %s", addr, a.drain)
		}
	}
	a.mu.Unlock()

	sort.Strings(hosts)
	text := "127.0.0.1 localhost\n::1 localhost\n" + strings.Join(hosts, "\n") + "\n"
	if text != a.lastHosts {
		// Written in place: the file is bind-mounted into every process of
		// the namespace, so it must stay the same file.
		if err := os.WriteFile(a.hosts, []byte(text), 0o644); err != nil {
			log.Printf("write %s: %v", a.hosts, err)
		} else {
			a.lastHosts = text
		}
	}
}

// bind listens on addr and serves it; svc is set for a ClusterIP. It is
// called with a.mu held.
func (a *agent) bind(addr, svc string) *binding {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		log.Printf("bind %s: %v", addr, err)
		return nil
	}
	host, _, _ := net.SplitHostPort(addr)
	b := &binding{svc: svc, ip: host}
	b.srv = &http.Server{
		Handler:           http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { a.answer(w, r, b) }),
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       30 * time.Second,
	}
	go func() { _ = b.srv.Serve(ln) }()
	a.bindings[addr] = b
	log.Printf("bound %s %s", addr, svc)
	return b
}

// answer writes the version of the pod behind b, after the pod's added
// latency, or the pod's injected error. A Service's address answers as one
// of its ready endpoints, in turn, like kube-proxy.
func (a *agent) answer(w http.ResponseWriter, r *http.Request, b *binding) {
	info := a.owner(b)
	if b.svc != "" {
		info = a.endpoint(b.svc)
		if info == nil {
			a.mu.Lock()
			ips := a.endpoints[b.svc]
			a.mu.Unlock()
			log.Printf("503 for service %s: ready endpoints %v", b.svc, ips)
			http.Error(w, "no ready pod behind "+b.svc, http.StatusServiceUnavailable)
			return
		}
	} else if info == nil {
		http.Error(w, "no pod", http.StatusServiceUnavailable)
		return
	} else if a.draining(b) && b.drainLogged.CompareAndSwap(false, true) {
		log.Printf("answered for %s/%s (version %s) after it left the cluster", info.ns, info.name, info.version)
	}
	respond(w, r, info)
}

// respond answers as the pod info: its version, after its latency, or an
// injected error. Every answer names the version in X-Version, so a load
// client can count the failures per version.
func respond(w http.ResponseWriter, r *http.Request, info *podInfo) {
	w.Header().Set("X-Pod", info.ns+"/"+info.name)
	w.Header().Set("X-Version", info.version)
	if info.faultErr != nil {
		http.Error(w, fmt.Sprintf("pod %s/%s: %v", info.ns, info.name, info.faultErr), http.StatusInternalServerError)
		return
	}
	if d := info.fault.latency; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if info.requests != nil && info.fault.fails(info.requests.Add(1)) {
		http.Error(w, "version "+info.version+": injected error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, info.version+"\n")
}

// owner is the pod behind a pod address. kwok gives a deleted pod's
// address to the next pod it starts, and the EndpointSlice informer may
// name the new pod there before the Pod informer has shown it: then the
// address waits a little for the new pod instead of answering as the old.
func (a *agent) owner(b *binding) *podInfo {
	deadline := time.Now().Add(2 * time.Second)
	for {
		info := b.owner.Load()
		if b.svc != "" || time.Now().After(deadline) {
			return info
		}
		a.mu.Lock()
		want, draining := a.slicePod[b.ip], !b.removedAt.IsZero()
		a.mu.Unlock()
		if !draining || want == "" || (info != nil && info.ns+"/"+info.name == want) {
			return info
		}
		a.poke()
		time.Sleep(20 * time.Millisecond)
	}
}

// endpoint picks the next ready endpoint of svc whose pod is known. The
// EndpointSlice and Pod informers are separate watches, so a slice may
// name a new pod's address before the agent has seen that pod: then it
// waits a little for the pod, since in a cluster the pod would answer.
func (a *agent) endpoint(svc string) *podInfo {
	deadline := time.Now().Add(2 * time.Second)
	for {
		info, unknown := a.pick(svc)
		if info != nil || !unknown || time.Now().After(deadline) {
			return info
		}
		a.poke()
		time.Sleep(20 * time.Millisecond)
	}
}

// pick returns the next ready endpoint of svc whose pod is known, or nil
// and whether svc has endpoints of pods the agent has not seen yet.
func (a *agent) pick(svc string) (info *podInfo, unknown bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ips := a.endpoints[svc]
	start := int(a.rr.Add(1))
	for i := range ips {
		ip := ips[(start+i)%len(ips)]
		if info := a.byIP[ip]; info != nil {
			return info, false
		}
		// A pod that left still answers while the slice lists it; the
		// address of one the slice does not name is another pod's now.
		if g, ok := a.gone[ip]; ok && (a.slicePod[ip] == "" || a.slicePod[ip] == g.info.ns+"/"+g.info.name) {
			return g.info, false
		}
		unknown = true
	}
	return nil, unknown
}

// draining tells whether b's pod has left the cluster.
func (a *agent) draining(b *binding) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return !b.removedAt.IsZero()
}

func (a *agent) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.bindings {
		_ = b.srv.Close()
	}
}

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
}

// binding is one listening address.
type binding struct {
	srv       *http.Server
	removedAt time.Time
	// owner is the pod that last had this address (pod addresses only).
	owner atomic.Pointer[podInfo]
	// svc is the namespace/name of the Service (ClusterIP addresses only).
	svc string
}

type agent struct {
	pods   []podLister
	svcs   []svcLister
	slices []sliceLister
	hosts  string
	drain  time.Duration
	kick   chan struct{}

	mu        sync.Mutex
	bindings  map[string]*binding
	byIP      map[string]*podInfo
	endpoints map[string][]string // "ns/svc" -> ready pod IPs
	rr        atomic.Uint64
	lastHosts string
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
	c := p.Spec.Containers[0]
	for _, e := range c.Env {
		if e.Name == "VERSION" && e.Value != "" {
			return e.Value
		}
	}
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
	var hosts []string
	for _, l := range a.pods {
		pods, _ := l.List(labels.Everything())
		for _, p := range pods {
			if p.Status.PodIP == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
				continue
			}
			info := &podInfo{ns: p.Namespace, name: p.Name, version: version(p)}
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
			}
		}
	}

	a.mu.Lock()
	a.byIP, a.endpoints = byIP, endpoints
	now := time.Now()
	for addr, info := range want {
		b := a.bindings[addr]
		if b == nil {
			b = a.bind(addr, "")
			if b == nil {
				continue
			}
		}
		b.removedAt = time.Time{}
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
	b := &binding{svc: svc}
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

// answer writes the version of the pod behind b.
func (a *agent) answer(w http.ResponseWriter, _ *http.Request, b *binding) {
	info := b.owner.Load()
	if b.svc != "" {
		a.mu.Lock()
		ips := a.endpoints[b.svc]
		if len(ips) > 0 {
			info = a.byIP[ips[int(a.rr.Add(1))%len(ips)]]
		}
		a.mu.Unlock()
	}
	if info == nil {
		http.Error(w, "no ready pod behind "+b.svc, http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("X-Pod", info.ns+"/"+info.name)
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, info.version+"\n")
}

func (a *agent) closeAll() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, b := range a.bindings {
		_ = b.srv.Close()
	}
}

// Command agent is the test data plane's helper, run inside the network
// namespace that package dataplane creates. It has three modes:
//
//	agent serve  bridges the API server into the namespace, then plays the
//	             kubelet and kube-proxy of the kwok pods: it listens on every
//	             pod IP and port of the watched namespaces and answers each
//	             request with that pod's version, listens on every Service
//	             ClusterIP like kube-proxy, and names the Services in the
//	             namespace's /etc/hosts (so ExternalName Services resolve).
//	agent load   sends requests and prints the count per version, per HTTP
//	             status and of connection errors, as JSON: N requests, or a
//	             steady rate until its standard input closes.
//	agent get    prints the body of one GET (to read Traefik's API).
//
// Traffic to the 10.x addresses never leaves the namespace: they are local
// addresses there.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: agent serve|load|get [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(os.Args[2:])
	case "load":
		err = load(os.Args[2:])
	case "get":
		err = get(os.Args[2:])
	default:
		err = fmt.Errorf("unknown mode %q: want serve, load or get", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		os.Exit(1)
	}
}

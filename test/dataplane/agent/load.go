package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Result is what `agent load` prints; package dataplane decodes it.
type Result struct {
	Total    int            `json:"total"`
	Versions map[string]int `json:"versions"`
	Status   map[string]int `json:"status"`
	Non2xx   int            `json:"non2xx"`
	// Failed counts the non-2xx answers per version (X-Version), "" for
	// those that name none (the data plane's own).
	Failed map[string]int `json:"failed"`
	Errors int            `json:"errors"`
	// Samples are a few error messages and non-2xx bodies.
	Samples []string `json:"samples,omitempty"`
	Seconds float64  `json:"seconds"`
}

type counter struct {
	mu sync.Mutex
	r  Result
}

func (c *counter) add(version string, status int, failedVersion, body string, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.r.Total++
	if err != nil {
		c.r.Errors++
		if len(c.r.Samples) < 5 {
			c.r.Samples = append(c.r.Samples, err.Error())
		}
		return
	}
	c.r.Status[strconv.Itoa(status)]++
	if status < 200 || status > 299 {
		c.r.Non2xx++
		c.r.Failed[failedVersion]++
		if len(c.r.Samples) < 5 {
			c.r.Samples = append(c.r.Samples, fmt.Sprintf("HTTP %d: %.200s", status, body))
		}
		return
	}
	c.r.Versions[version]++
}

func load(args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	url := fs.String("url", "", "URL to request")
	n := fs.Int("n", 0, "number of requests (burst mode)")
	conc := fs.Int("concurrency", 8, "requests in flight (burst mode)")
	rate := fs.Float64("rate", 0, "requests per second until standard input closes (steady mode)")
	header := fs.String("header", "", `a request header, "Name: value"`)
	timeout := fs.Duration("timeout", 5*time.Second, "timeout of one request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *url == "" || (*n <= 0) == (*rate <= 0) {
		return errors.New("load needs --url and one of --n or --rate")
	}
	var hname, hvalue string
	if *header != "" {
		k, v, ok := strings.Cut(*header, ":")
		if !ok {
			return fmt.Errorf("header %q: want Name: value", *header)
		}
		hname, hvalue = strings.TrimSpace(k), strings.TrimSpace(v)
	}
	client := &http.Client{
		Timeout: *timeout,
		Transport: &http.Transport{
			MaxIdleConns: 256, MaxIdleConnsPerHost: 256, IdleConnTimeout: 30 * time.Second,
		},
	}
	c := &counter{r: Result{Versions: map[string]int{}, Status: map[string]int{}, Failed: map[string]int{}}}
	one := func() {
		req, err := http.NewRequest(http.MethodGet, *url, nil)
		if err != nil {
			c.add("", 0, "", "", err)
			return
		}
		if hname != "" {
			req.Header.Set(hname, hvalue)
		}
		resp, err := client.Do(req)
		if err != nil {
			c.add("", 0, "", "", err)
			return
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
		if err != nil {
			c.add("", 0, "", "", fmt.Errorf("read body: %w", err))
			return
		}
		c.add(strings.TrimSpace(string(body)), resp.StatusCode, resp.Header.Get("X-Version"), string(body), nil)
	}

	start := time.Now()
	if *n > 0 {
		jobs := make(chan struct{})
		var wg sync.WaitGroup
		for range max(1, *conc) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range jobs {
					one()
				}
			}()
		}
		for range *n {
			jobs <- struct{}{}
		}
		close(jobs)
		wg.Wait()
	} else {
		steady(*rate, one)
	}
	c.r.Seconds = time.Since(start).Seconds()
	return json.NewEncoder(os.Stdout).Encode(c.r)
}

// steady calls one at rate per second, each in its own goroutine, until
// standard input reaches EOF or SIGTERM comes, then waits for the requests
// in flight.
func steady(rate float64, one func()) {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer cancel()
	go func() {
		_, _ = io.Copy(io.Discard, bufio.NewReader(os.Stdin))
		cancel()
	}()
	interval := time.Duration(float64(time.Second) / rate)
	t := time.NewTicker(interval)
	defer t.Stop()
	var wg sync.WaitGroup
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return
		case <-t.C:
			wg.Add(1)
			go func() {
				defer wg.Done()
				one()
			}()
		}
	}
}

func get(args []string) error {
	fs := flag.NewFlagSet("get", flag.ContinueOnError)
	url := fs.String("url", "", "URL to GET")
	if err := fs.Parse(args); err != nil {
		return err
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(*url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(os.Stdout, io.LimitReader(resp.Body, 16<<20)); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", *url, resp.Status)
	}
	return nil
}

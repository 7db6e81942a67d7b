package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/agentlinks/agentlinks/examples/demosite"
)

// demo serves the demo shop (examples/demosite) for an app until ctx ends.
func demo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	app := fs.String("app", "", "the app id the shop reports to (required)")
	addr := fs.String("addr", "127.0.0.1:8081", "where to serve the shop")
	apiURL := fs.String("api", "http://127.0.0.1:8080", "the AgentLinks API that serves agentlinks.js")
	key := fs.String("key", "", "the app's secret key: purchases are reported by the shop's backend with it (else from the browser, keyless mode)")
	if err := fs.Parse(args); err != nil {
		return usageError{"demo: " + err.Error()}
	}
	if *app == "" {
		return usageError{"demo: --app is required"}
	}
	l, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: demosite.Handler(demosite.Config{AppID: *app, APIURL: *apiURL, SecretKey: *key}), ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(stderr, "demo shop for %s on http://%s (allow it: agentlinks apps update --app %s --allowed-origin http://%s)\n",
		*app, l.Addr(), *app, l.Addr())
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

package testenv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/agentlinks/agentlinks/internal/temporaldev"
)

// StripeMock is a running stripe-mock (github.com/stripe/stripe-mock, built
// into bin/ by `make tools`), the Stripe API double tests call.
type StripeMock struct {
	URL string
	cmd *exec.Cmd
}

// StartStripeMock runs stripe-mock on a free loopback port.
func StartStripeMock(ctx context.Context) (*StripeMock, error) {
	bin, err := findBin("stripe-mock", os.Getenv("STRIPE_MOCK"))
	if err != nil {
		return nil, err
	}
	addr, err := temporaldev.FreeAddress()
	if err != nil {
		return nil, err
	}
	// Its HTTPS side must have a free port too: by default it takes 12112,
	// and a second stripe-mock (another test package, running at the same
	// time) then exits without a word.
	httpsAddr, err := temporaldev.FreeAddress()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "-http-addr", addr, "-https-addr", httpsAddr)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start stripe-mock: %w", err)
	}
	m := &StripeMock{URL: "http://" + addr, cmd: cmd}
	deadline := time.Now().Add(90 * time.Second) // it loads Stripe's whole API spec first
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			// stripe-mock answers once its spec is loaded.
			if res, err := http.Get(m.URL + "/v1/customers/cus_x"); err == nil {
				res.Body.Close()
				return m, nil
			}
		}
		if time.Now().After(deadline) {
			m.Stop()
			return nil, errors.New("stripe-mock not answering after 90s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Stop stops stripe-mock.
func (m *StripeMock) Stop() {
	_ = m.cmd.Process.Kill()
	_ = m.cmd.Wait()
}

// findBin finds a pinned tool: configured, else bin/<name> here or in a
// parent directory, else PATH.
func findBin(name, configured string) (string, error) {
	if configured != "" {
		return configured, nil
	}
	dir, _ := os.Getwd()
	for d := dir; ; d = filepath.Dir(d) {
		p := filepath.Join(d, "bin", name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	return "", fmt.Errorf("%s not found: run `make tools`", name)
}

package webhook

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"syscall"
	"time"
)

// Outside dev, an endpoint must not reach AgentLinks' own network: its
// address is checked when it is registered and again on every connection
// (the name may resolve elsewhere by then).

// ErrPrivateAddress is an endpoint that resolves to a loopback, private,
// link-local or otherwise internal address.
var ErrPrivateAddress = errors.New("resolves to a private or loopback address")

// publicAddress says whether an address is on the public internet.
func publicAddress(a netip.Addr) bool {
	a = a.Unmap()
	if a.IsLoopback() || a.IsPrivate() || a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast() ||
		a.IsInterfaceLocalMulticast() || a.IsMulticast() || a.IsUnspecified() {
		return false
	}
	for _, p := range internal {
		if p.Contains(a) {
			return false
		}
	}
	return true
}

var internal = []netip.Prefix{
	netip.MustParsePrefix("0.0.0.0/8"),     // this network
	netip.MustParsePrefix("100.64.0.0/10"), // carrier-grade NAT
	netip.MustParsePrefix("192.0.0.0/24"),  // IETF protocol assignments
	netip.MustParsePrefix("198.18.0.0/15"), // benchmarking
	netip.MustParsePrefix("240.0.0.0/4"),   // reserved, broadcast
	netip.MustParsePrefix("64:ff9b::/96"),  // NAT64 (embeds any IPv4)
}

// CheckURL says whether raw may be an endpoint: an absolute http(s) URL
// (https outside dev), without credentials, whose host resolves only to
// public addresses unless allowPrivate (dev).
func CheckURL(ctx context.Context, raw string, allowPrivate bool) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("the url must be an absolute https:// URL")
	}
	if u.Scheme == "http" && !allowPrivate {
		return nil, errors.New("the url must use https")
	}
	if u.User != nil {
		return nil, errors.New("the url must not carry a user or password")
	}
	if len(raw) > 2000 {
		return nil, errors.New("the url is longer than 2000 characters")
	}
	if allowPrivate {
		return u, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	addrs, err := net.DefaultResolver.LookupNetIP(ctx, "ip", u.Hostname())
	if err != nil {
		return nil, fmt.Errorf("the url's host %q does not resolve: %w", u.Hostname(), err)
	}
	for _, a := range addrs {
		if !publicAddress(a) {
			return nil, fmt.Errorf("the url's host %q %w (%s)", u.Hostname(), ErrPrivateAddress, a.Unmap())
		}
	}
	return u, nil
}

// Client is the HTTP client deliveries are sent with: no redirects
// followed (a 3xx is a failed attempt), a timeout per attempt, and unless
// allowPrivate, a dialer that refuses private addresses at connect time.
func Client(timeout time.Duration, allowPrivate bool) *http.Client {
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !allowPrivate {
		dialer.Control = func(network, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return err
			}
			if !publicAddress(ap.Addr()) {
				return fmt.Errorf("webhook endpoint %s: %w", ap.Addr(), ErrPrivateAddress)
			}
			return nil
		}
	}
	tr := &http.Transport{
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: timeout,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

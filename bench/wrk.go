package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// wrkClicks drives the click endpoint at url with Debian's wrk, in its own
// process (2 threads, *concurrency connections), so that the generator's
// work is not in the measured process. Every request carries the ref and
// one of 5000 visitor ids.
func wrkClicks(name, url, ref string, browser bool) (result, error) {
	bin, err := exec.LookPath("wrk")
	if err != nil {
		return result{}, fmt.Errorf("wrk not found (apt-get install wrk): %w", err)
	}
	dir, err := os.MkdirTemp("", "agentlinks-wrk-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(dir)
	script := filepath.Join(dir, "click.lua")
	lua := fmt.Sprintf(`local n = 0
request = function()
  n = n + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json"},
    string.format('{"ref":%q,"url":"https://shop.example.com/","visitor_id":"v%%d"}', n %% 5000))
end
`, ref)
	if browser {
		agents, err := agentMix()
		if err != nil {
			return result{}, err
		}
		var tbl strings.Builder
		for _, a := range agents {
			fmt.Fprintf(&tbl, "  %q,\n", a)
		}
		lua = fmt.Sprintf(`local n = 0
local agents = {
%s}
local referrers = {"https://www.instagram.com/", "https://t.co/", "https://www.youtube.com/", "", "https://www.google.com/"}
request = function()
  n = n + 1
  local v = n %% 5000
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Origin"] = "https://shop.example.com",
      ["User-Agent"] = agents[(n %% #agents) + 1], ["Accept"] = "*/*", ["Accept-Language"] = "en-US,en;q=0.9",
      ["X-Forwarded-For"] = string.format("10.%%d.%%d.%%d", math.floor(v / 65536), math.floor(v / 256) %% 256, v %% 256)},
    string.format('{"ref":%q,"url":"https://shop.example.com/products/item-%%d?ref=%s","referrer":"%%s"}', n %% 300, referrers[(n %% #referrers) + 1]))
end
`, tbl.String(), ref, ref)
	}
	if err := os.WriteFile(script, []byte(lua), 0o644); err != nil {
		return result{}, err
	}
	cmd := exec.Command(bin, "-t2", fmt.Sprintf("-c%d", *concurrency), "-d"+duration.String(), "--latency", "-s", script, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v\n%s", err, out)
	}
	r, err := parseWrk(name, string(out))
	r.generatorCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	return r, err
}

var (
	wrkTotal    = regexp.MustCompile(`(\d+) requests in ([\d.]+)(\w+)`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkLatency  = regexp.MustCompile(`(?m)^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$`)
)

func parseWrk(name, out string) (result, error) {
	m := wrkTotal.FindStringSubmatch(out)
	if m == nil {
		return result{}, fmt.Errorf("wrk output not understood:\n%s", out)
	}
	total, _ := strconv.ParseUint(m[1], 10, 64)
	secs, err := time.ParseDuration(m[2] + m[3])
	if err != nil {
		return result{}, err
	}
	bad := uint64(0)
	if n := wrkNon2xx.FindStringSubmatch(out); n != nil {
		bad, _ = strconv.ParseUint(n[1], 10, 64)
	}
	if s := wrkSockErrs.FindStringSubmatch(out); s != nil {
		for _, v := range s[1:] {
			e, _ := strconv.ParseUint(v, 10, 64)
			bad += e
		}
	}
	r := result{name: name, ok: total - bad, total: total}
	r.rps = float64(r.ok) / secs.Seconds()
	for _, l := range wrkLatency.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(l[2], 64)
		switch l[3] {
		case "us":
			v /= 1000
		case "s":
			v *= 1000
		}
		if l[1] == "50" {
			r.p50 = v
		} else {
			r.p99 = v
		}
	}
	if !strings.Contains(out, "Latency Distribution") {
		return r, fmt.Errorf("wrk printed no latency distribution:\n%s", out)
	}
	return r, nil
}

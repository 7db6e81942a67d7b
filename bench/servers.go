package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"runtime/pprof"

	"github.com/valyala/fasthttp"
)

// benchHTTPServers measures what the HTTP server itself costs (issue 19):
// the bare ceiling's handler (bind the browser mix's click body, answer
// 202) on Gin over net/http, on net/http alone, and on fasthttp, the
// sides alternating for -rounds rounds.
func benchHTTPServers(ctx context.Context, mix clickMix) error {
	ginURL, stopGin := serve("gin", bareGin())
	defer stopGin()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/track/click", func(w http.ResponseWriter, r *http.Request) {
		var req bareClick
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte(`{"accepted":true}`))
	})
	stdURL, stopStd := serve("net/http", mux)
	defer stopStd()
	fast := &fasthttp.Server{Handler: func(c *fasthttp.RequestCtx) {
		if string(c.Path()) != "/api/track/click" || !c.IsPost() {
			c.SetStatusCode(http.StatusNotFound)
			return
		}
		var req bareClick
		if err := json.Unmarshal(c.PostBody(), &req); err != nil {
			c.SetStatusCode(http.StatusBadRequest)
			return
		}
		c.SetStatusCode(http.StatusAccepted)
		c.SetContentType("application/json; charset=utf-8")
		c.SetBodyString(`{"accepted":true}`)
	}}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pprof.Do(ctx, pprof.Labels("side", "fasthttp"), func(context.Context) { go func() { _ = fast.Serve(l) }() })
	defer fast.Shutdown()
	fastURL := "http://" + l.Addr().String()

	sides := []struct{ name, url string }{
		{"servers: Gin on net/http, bind + 202", ginURL},
		{"servers: net/http alone, decode + 202", stdURL},
		{"servers: fasthttp, decode + 202", fastURL},
	}
	var n int64
	body := func(i int64) []byte { return mix.body(i) }
	rates := make([][]float64, len(sides))
	for round := range *rounds {
		for k := range sides {
			s := sides[(k+round)%len(sides)]
			r := attackClicks(s.name, s.url+mix.path, mix, body, &n)
			print(r)
			rates[(k+round)%len(sides)] = append(rates[(k+round)%len(sides)], r.rps)
		}
	}
	for k, s := range sides[1:] {
		var ratios []float64
		for i := range rates[0] {
			ratios = append(ratios, rates[k+1][i]/rates[0][i])
		}
		fmt.Printf("%-48s %s of Gin's rate, by round\n", s.name, percents(ratios))
	}
	fmt.Println()
	return nil
}

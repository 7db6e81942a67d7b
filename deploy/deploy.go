// Package deploy holds what an operator runs beside AgentLinks: the
// Prometheus scrape config and alert rules (prometheus/), the Grafana
// dashboard and its provisioning (grafana/). Go code here only reads them
// back, for the tests that keep them valid.
package deploy

import (
	"embed"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
)

//go:embed prometheus/alerts.yml grafana/dashboards/agentlinks.json
var files embed.FS

// Query is one PromQL expression of an alert rule or a dashboard panel.
type Query struct {
	Where string // "alert X" or "panel Y"
	Expr  string
}

// Rules parses the alert rules as Prometheus does.
func Rules() (*rulefmt.RuleGroups, error) {
	b, err := files.ReadFile("prometheus/alerts.yml")
	if err != nil {
		return nil, err
	}
	groups, errs := rulefmt.Parse(b, false, model.UTF8Validation, parser.NewParser(parser.Options{}), slog.Default())
	if len(errs) > 0 {
		return nil, fmt.Errorf("alerts.yml: %v", errs)
	}
	return groups, nil
}

// Dashboard is the part of the Grafana dashboard the tests read.
type Dashboard struct {
	UID    string `json:"uid"`
	Title  string `json:"title"`
	Panels []struct {
		ID      int    `json:"id"`
		Type    string `json:"type"`
		Title   string `json:"title"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
		GridPos struct{ H, W, X, Y int } `json:"gridPos"`
	} `json:"panels"`
}

// ReadDashboard decodes the dashboard JSON.
func ReadDashboard() (Dashboard, error) {
	var d Dashboard
	b, err := files.ReadFile("grafana/dashboards/agentlinks.json")
	if err == nil {
		err = json.Unmarshal(b, &d)
	}
	return d, err
}

// Queries are every expression of the rules and the dashboard.
func Queries() ([]Query, error) {
	groups, err := Rules()
	if err != nil {
		return nil, err
	}
	var out []Query
	for _, g := range groups.Groups {
		for _, r := range g.Rules {
			out = append(out, Query{Where: "alert " + r.Alert, Expr: r.Expr})
		}
	}
	d, err := ReadDashboard()
	if err != nil {
		return nil, err
	}
	for _, p := range d.Panels {
		for _, t := range p.Targets {
			out = append(out, Query{Where: "panel " + p.Title, Expr: t.Expr})
		}
	}
	return out, nil
}

// Metrics are the metric families an expression reads (a histogram's
// _bucket series named by its family).
func Metrics(expr string) ([]string, error) {
	e, err := parser.NewParser(parser.Options{}).ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var names []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		if vs, ok := n.(*parser.VectorSelector); ok && vs.Name != "" {
			name := vs.Name
			for _, suffix := range []string{"_bucket", "_count", "_sum"} {
				if len(name) > len(suffix) && name[len(name)-len(suffix):] == suffix {
					name = name[:len(name)-len(suffix)]
					break
				}
			}
			if !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
		return nil
	})
	return names, nil
}

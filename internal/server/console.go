package server

import (
	"context"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/console"
)

// registerConsole serves the web console at /console/ (ADR 0037).
func (s *Server) registerConsole(mux *http.ServeMux) {
	cfg := console.Config{Registry: s.Registry, Logs: s.logs, Metrics: s.Metrics.Registry, Invoker: s.Invoker,
		Inventory: s.consoleInventory, Options: s.cfg.Console, Logger: s.log}
	if s.Auth != nil {
		cfg.OperatorSecret = func(id string) (string, bool) {
			k, ok := s.Auth.Key(id)
			if !ok {
				return "", false
			}
			return k.SecretAccessKey, true
		}
	}
	console.New(cfg).Register(mux)
}

// Bounds of what the resources page reads at once.
const (
	consoleMaxItems      = 500
	consoleMaxMachines   = 50
	consoleMaxExecutions = 5
)

// consoleInventory lists what services created, for the console's
// resources page; a part that fails to answer is left out.
func (s *Server) consoleInventory(ctx context.Context) console.Inventory {
	var inv console.Inventory
	for _, app := range s.Registry.Services() {
		for _, line := range s.Gateway.RouteLines(&app) {
			inv.Routes = append(inv.Routes, console.Route{Service: app.Service, Stage: app.Stage, Endpoint: line})
		}
	}
	if q := s.events.queues; q != nil {
		names, err := q.List(ctx, "")
		if err == nil {
			for _, n := range names[:min(len(names), consoleMaxItems)] {
				c, err := q.Count(ctx, n)
				if err != nil {
					continue
				}
				inv.Queues = append(inv.Queues, console.Queue{Name: n, Visible: c.Visible, InFlight: c.InFlight, Delayed: c.Delayed})
			}
		}
	}
	if s.tables != nil {
		if names, _, err := s.tables.ListTables(ctx, "", 100); err == nil {
			inv.Tables = names
		}
	}
	if s.objects != nil {
		if buckets, err := s.objects.ListBuckets(ctx); err == nil {
			for _, b := range buckets[:min(len(buckets), consoleMaxItems)] {
				inv.Buckets = append(inv.Buckets, b.Name)
			}
		}
	}
	if s.workflows != nil {
		if machines, err := s.workflows.ListStateMachines(ctx); err == nil {
			for _, m := range machines[:min(len(machines), consoleMaxMachines)] {
				sm := console.StateMachine{Name: m.Name, Type: m.Type, Executions: []console.Execution{}}
				if exs, err := s.workflows.ListExecutions(ctx, m.ARN, ""); err == nil {
					for _, x := range exs[:min(len(exs), consoleMaxExecutions)] {
						sm.Executions = append(sm.Executions, console.Execution{Name: x.Name, Status: x.Status, Start: x.Start, Stop: x.Stop})
					}
				}
				inv.StateMachines = append(inv.StateMachines, sm)
			}
		}
	}
	return inv
}

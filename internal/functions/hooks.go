package functions

import (
	"context"

	"github.com/nimbus-platform/nimbus/internal/appspec"
)

// PrepareHook readies what an application declares besides functions (queues,
// topics, subscriptions) before the deploy is stored. It must check all of its
// input before changing anything and be idempotent; an error refuses the
// deploy, and the previous version keeps serving. Errors of type
// *InvalidError are the application's fault.
type PrepareHook func(ctx context.Context, app *appspec.Application) error

// OnDeploy adds a prepare hook. Call it before the registry takes deploys.
func (r *Registry) OnDeploy(h PrepareHook) { r.prepare = append(r.prepare, h) }

// Item is something a deploy creates besides functions (a queue, a topic, a
// subscription, an event bus, a rule, a schedule, an HTTP route), for the
// deploy's summary.
type Item struct {
	Kind string // queue, topic, subscription, event bus, rule, schedule, route
	Name string
	// Digest changes when the item's definition changes.
	Digest string
	// Retained items stay on the platform when a deploy no longer declares
	// them (queues and topics keep their messages and subscribers).
	Retained bool
}

// Inventory lists the items of one kind that an application declares.
type Inventory func(app *appspec.Application) []Item

// AddInventory adds an inventory to deploy summaries. Call it before the
// registry takes deploys.
func (r *Registry) AddInventory(inv Inventory) { r.inventories = append(r.inventories, inv) }

// Items lists what app declares besides functions, as deploy summaries name it.
func (r *Registry) Items(app *appspec.Application) []Item {
	var out []Item
	for _, inv := range r.inventories {
		out = append(out, inv(app)...)
	}
	return out
}

// OnRemove adds a check that may refuse to remove a service (given the other
// services deployed), e.g. because they import its exports. Call it before
// the registry takes requests.
func (r *Registry) OnRemove(check DeployCheck) { r.removeChecks = append(r.removeChecks, check) }

// RemovedHook cleans up, after a service is removed, what its application
// declared (tables without DeletionPolicy Retain). Its error becomes a
// warning of the removal, which has happened.
type RemovedHook func(ctx context.Context, app *appspec.Application) error

// AfterRemove adds a removed hook. Call it before the registry takes
// requests.
func (r *Registry) AfterRemove(h RemovedHook) { r.removed = append(r.removed, h) }

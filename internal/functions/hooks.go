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

package integration

import "github.com/nimbus-platform/nimbus/internal/telemetry/logs"

type logsRecord = logs.Record

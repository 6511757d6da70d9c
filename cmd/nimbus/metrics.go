package main

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/nimbus-platform/nimbus/internal/server"
)

// printMetricsAccess shows how Prometheus reads /metrics, when the data
// directory holds the platform's metrics token.
func printMetricsAccess(out io.Writer, endpoint, dataDir string) {
	token, err := server.ReadMetricsToken(dataDir)
	if err != nil {
		return
	}
	file := filepath.Join(dataDir, server.MetricsTokenFile)
	if abs, err := filepath.Abs(file); err == nil {
		file = abs
	}
	fmt.Fprintf(out, "\nmetrics: GET %s/metrics with Authorization: Bearer %s\n", strings.TrimSuffix(endpoint, "/"), token)
	fmt.Fprintf(out, "  Prometheus: authorization: {credentials_file: %s}\n", file)
}

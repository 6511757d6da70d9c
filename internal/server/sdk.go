package server

import (
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nimbus-platform/nimbus/internal/sdk"
)

// checkSDK warns when functions will find no AWS SDK, and returns the folder
// to hand to the runtime ("" for none).
func (s *Server) checkSDK(dir string) string {
	if dir == "" {
		s.log.Info("no SDK folder: functions find the AWS SDKs only if they package them")
		return ""
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		s.log.Warn("SDK folder unusable", "dir", dir, "err", err)
		return ""
	}
	st := sdk.Check(abs)
	if !st.Node || !st.Python {
		s.log.Warn("AWS SDKs for functions are not installed: Node.js functions cannot require @aws-sdk/* and Python functions cannot import boto3 unless they package them",
			"dir", abs, "node", st.Node, "python", st.Python, "install with", sdk.InstallCommand+" --dir "+abs)
	}
	if !s.cfg.NoSandbox && os.Geteuid() == 0 {
		if d := unreachableAncestor(abs); d != "" {
			s.log.Warn("function users cannot reach the SDK folder", "dir", abs, "not searchable", d)
		}
	}
	// Kept even when incomplete: an install while the platform runs is used
	// by the next instances.
	return abs
}

// functionEndpoint is the API's URL as a function process reaches it: the
// listener's own address, or loopback when it listens on every address.
func functionEndpoint(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String()
	}
	ip := tcp.IP
	if ip == nil || ip.IsUnspecified() {
		// Go's wildcard listener takes IPv4 too; not every host has ::1.
		ip = net.IPv4(127, 0, 0, 1)
	}
	return "http://" + net.JoinHostPort(ip.String(), strconv.Itoa(tcp.Port))
}

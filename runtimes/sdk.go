package runtimes

import "embed"

// SDKFiles are the pinned package lists of the AWS SDKs that functions find
// without packaging them: sdk/nodejs/package.json and package-lock.json (npm)
// and sdk/python/debian-packages.txt. internal/sdk installs them.
//
//go:embed sdk/nodejs/package.json sdk/nodejs/package-lock.json sdk/python/debian-packages.txt
var SDKFiles embed.FS

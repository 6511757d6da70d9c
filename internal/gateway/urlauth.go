package gateway

import (
	"bytes"
	"io"
	"net/http"

	"github.com/nimbus-platform/nimbus/internal/auth"
)

// signedForURL checks a request to a function URL whose authorizer is
// aws_iam as Lambda does: a SigV4 signature (signing name lambda) whose
// signer may lambda:InvokeFunctionUrl on the function. The body has been
// read; the signature is checked against it.
func (g *Gateway) signedForURL(r *http.Request, rt *route, body []byte) bool {
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	ctx, err := g.cfg.Verify(r)
	if err != nil {
		g.log.Debug("function URL: signature refused", "function", rt.function, "err", err)
		return false
	}
	arn := "arn:aws:lambda:" + rt.api.region + ":" + g.cfg.AccountID + ":function:" + rt.function
	if err := auth.Authorize(ctx, "lambda:InvokeFunctionUrl", arn, map[string]string{"lambda:FunctionUrlAuthType": "AWS_IAM"}); err != nil {
		g.log.Debug("function URL: not allowed", "function", rt.function, "err", err)
		return false
	}
	return true
}

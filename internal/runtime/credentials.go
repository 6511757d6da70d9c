package runtime

import (
	"fmt"
	"time"
)

// Credentials are an instance's short-lived AWS credentials, as Lambda's
// execution role gives them.
type Credentials struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string
	Expiration      time.Time
}

// credentialMargin is how long before its credentials expire an instance
// stops taking invocations, besides the function's own timeout: every
// invocation it starts ends while its credentials are still valid.
const credentialMargin = 10 * time.Minute

// issueCredentials asks for inst's credentials (when the platform checks
// signatures) and sets when the instance must retire.
func (m *Manager) issueCredentials(spec *Spec, inst *instance) error {
	if m.cfg.Credentials == nil {
		return nil
	}
	c, err := m.cfg.Credentials(spec)
	if err != nil {
		return fmt.Errorf("issue credentials for %s: %w", spec.FunctionName, err)
	}
	inst.credentialEnv = []string{
		"AWS_ACCESS_KEY_ID=" + c.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + c.SecretAccessKey,
		"AWS_SESSION_TOKEN=" + c.SessionToken,
	}
	if !c.Expiration.IsZero() {
		inst.retireAt = c.Expiration.Add(-spec.Timeout - credentialMargin)
	}
	return nil
}

// expired reports whether inst must take no more invocations because its
// credentials are about to expire; the next request starts a fresh instance.
func (inst *instance) expired(now time.Time) bool {
	return !inst.retireAt.IsZero() && now.After(inst.retireAt)
}

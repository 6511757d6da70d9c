package tables

import "context"

// TableUpdate is what UpdateTable may change today: the billing mode and
// provisioned throughput (accepted, not enforced).
type TableUpdate struct {
	BillingMode string
	Throughput  *Throughput
}

// UpdateTable changes a table's billing mode or throughput.
func (s *Service) UpdateTable(ctx context.Context, name string, u TableUpdate) (*Table, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.tables[name]
	if t == nil {
		return nil, tableNotFound(name)
	}
	mode := u.BillingMode
	if mode == "" {
		mode = t.BillingMode
	}
	throughput := t.Throughput
	switch mode {
	case "PAY_PER_REQUEST":
		if u.Throughput != nil {
			return nil, validationf("One or more parameter values were invalid: Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST")
		}
		throughput = nil
	case "PROVISIONED":
		if u.Throughput != nil {
			throughput = u.Throughput
		}
		if throughput == nil {
			return nil, validationf("One or more parameter values were invalid: ProvisionedThroughput must be specified when BillingMode is PROVISIONED")
		}
		if throughput.ReadCapacityUnits < 1 || throughput.WriteCapacityUnits < 1 {
			return nil, validationf("One or more parameter values were invalid: ReadCapacityUnits and WriteCapacityUnits must both be at least 1")
		}
	default:
		return nil, validationf("1 validation error detected: Value '%s' at 'billingMode' failed to satisfy constraint: Member must satisfy enum value set: [PROVISIONED, PAY_PER_REQUEST]", mode)
	}
	oldMode, oldThroughput := t.BillingMode, t.Throughput
	t.BillingMode, t.Throughput = mode, throughput
	if err := s.saveMeta(t); err != nil {
		t.BillingMode, t.Throughput = oldMode, oldThroughput
		return nil, err
	}
	return t, nil
}

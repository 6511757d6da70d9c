package tables

// Consumed is the capacity a request used, counted by DynamoDB's on-demand
// rules: a write is one unit per 1 KB of the larger of the old and new item
// (at least one), and each index entry it writes or removes costs the same
// for the projected item; a read is one unit per 4 KB read (at least one),
// half for an eventually consistent read.
type Consumed struct {
	Table   float64
	Indexes map[string]float64
}

// Total is the capacity of the table and its indexes together.
func (c *Consumed) Total() float64 {
	n := c.Table
	for _, u := range c.Indexes {
		n += u
	}
	return n
}

func writeUnits(size int) float64 {
	u := (size + 1023) / 1024
	if u < 1 {
		u = 1
	}
	return float64(u)
}

// ReadUnits is the capacity of reading size bytes.
func ReadUnits(size int, consistent bool) float64 {
	u := float64((size + 4095) / 4096)
	if u < 1 {
		u = 1
	}
	if !consistent {
		u /= 2
	}
	return u
}

// noteWrite fills c for a write of old→new (nil: absent).
func (c *Consumed) noteWrite(t *Table, old, new Item) {
	if c == nil {
		return
	}
	c.Table += writeUnits(max(old.Size(), new.Size()))
	for _, ix := range t.indexes() {
		var ok, nk []byte
		if old != nil {
			ok = ix.entryKey(t, old)
		}
		if new != nil {
			nk = ix.entryKey(t, new)
		}
		var u float64
		switch {
		case ok != nil && nk != nil && string(ok) == string(nk):
			u = writeUnits(max(ix.project(t, old).Size(), ix.project(t, new).Size()))
		default:
			if ok != nil {
				u += writeUnits(ix.project(t, old).Size())
			}
			if nk != nil {
				u += writeUnits(ix.project(t, new).Size())
			}
		}
		if u > 0 {
			if c.Indexes == nil {
				c.Indexes = map[string]float64{}
			}
			c.Indexes[ix.IndexName] += u
		}
	}
}

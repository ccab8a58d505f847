package metrics

// NewWithSourceTimeout is New with another budget for a scrape's Source reads.
var NewWithSourceTimeout = newMetrics

// GoDocItems returns the package documentation's list item of every metric, as doc.go must
// have them.
func GoDocItems() []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.goDoc()
	}
	return out
}

// Names returns every metric's name, in Doc's order.
func Names() []string {
	out := make([]string, len(defs))
	for i, d := range defs {
		out[i] = d.name
	}
	return out
}

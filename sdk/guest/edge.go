package guest

// Flag reports whether a feature flag is on: false when it is off or the
// registry has no flag of that name. A flag flip reaches handlers as it
// reaches routing, with the worker's next revision.
func Flag(name string) bool {
	on, _ := LookupFlag(name)
	return on
}

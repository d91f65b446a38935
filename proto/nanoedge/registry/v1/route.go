package registryv1

// Digests lists every module the route can send a request to: its
// module, its split's versions and its rules' modules, with repeats.
func (r *Route) Digests() []string {
	ds := []string{r.GetModuleDigest()}
	for _, v := range r.GetVersions() {
		ds = append(ds, v.ModuleDigest)
	}
	for _, rl := range r.GetRules() {
		ds = append(ds, rl.ModuleDigest)
	}
	return ds
}
